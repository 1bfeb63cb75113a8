/// How every handle crosses the C boundary: a Swift object retained once when it is
/// given out (`publishHandle`), borrowed by each call (`borrowHandle`), released by its
/// free function (`releaseHandle`).

/// Gives `object` to the caller as a new handle, after applying the thread setting.
func publishHandle(_ object: AnyObject, to out: UnsafeMutablePointer<OpaquePointer?>) {
    _ = applyThreadSetting
    out.pointee = OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

/// The object behind a handle; `name` is the argument's name in the error for NULL.
func borrowHandle<H: AnyObject>(_ pointer: OpaquePointer?, _ name: String, as type: H.Type = H.self) throws -> H {
    let p = try required(pointer, name)
    return Unmanaged<H>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

/// Releases a handle; NULL is a no-op.
func releaseHandle<H: AnyObject>(_ pointer: OpaquePointer?, as type: H.Type) {
    guard let pointer else { return }
    Unmanaged<H>.fromOpaque(UnsafeRawPointer(pointer)).release()
}
