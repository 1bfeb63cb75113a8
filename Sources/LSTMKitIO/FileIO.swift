import LSTMKitCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and crash-safe whole-file writes, without Foundation.
public enum FileIO {
    /// The most bytes a file read whole may hold (2 GiB) unless a caller says otherwise:
    /// an input without end (/dev/zero, an endless pipe) is refused here, with a message,
    /// instead of growing until an allocation fails and ends the process.
    public static let defaultReadLimit = 1 << 31

    /// Reads a file; throws `.io` naming the path and the system's reason.
    /// `regularOnly` refuses pipes and devices (a model file must be a file: reading
    /// /dev/zero would never end); `limit` bounds what is read in any case.
    public static func read(_ path: String, limit: Int = defaultReadLimit, regularOnly: Bool = false) throws -> [UInt8] {
        guard let f = fopen(path, "rb") else {
            throw LSTMKitError.io("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        var st = stat()
        guard fstat(fileno(f), &st) == 0 else {
            throw LSTMKitError.io("cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw LSTMKitError.io("\(path) is a directory, not a file") }
        let size = Int(st.st_size)
        guard size <= limit else { throw LSTMKitError.io("\(path) is too large (\(size) bytes; at most \(limit) are read)") }
        if (st.st_mode & S_IFMT) != S_IFREG {
            guard !regularOnly else { throw LSTMKitError.io("\(path) is not a regular file") }
            // A pipe or device: read until the end.
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
                if n == 0 { break }
                // Checked before appending, so the array never grows past the limit.
                guard bytes.count + n <= limit else {
                    throw LSTMKitError.io("\(path) does not end within \(limit) bytes (at most \(limit) are read)")
                }
                bytes += buffer[0..<n]
            }
            guard ferror(f) == 0 else { throw LSTMKitError.io("cannot read \(path)") }
            return bytes
        }
        var bytes = try [UInt8](checkedRepeating: 0, count: size, for: "reading \(path)")
        let got = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, size, f) }
        guard got == size else { throw LSTMKitError.io("cannot read \(path): read \(got) of \(size) bytes") }
        return bytes
    }

    /// Writes to a temporary file beside `path`, then renames it over `path`, so a
    /// failure never leaves a half-written file and never destroys the old one. Over an
    /// existing file the new one keeps its permission bits (a private model stays
    /// private), and a symbolic link is written through: its target is replaced and
    /// the link stays.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let target = try writableTarget(path)
        let temp = target + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard let f = fopen(temp, "wb") else {
            throw LSTMKitError.io("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        var old = stat()
        if stat(target, &old) == 0 { _ = fchmod(fileno(f), old.st_mode & 0o7777) }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
        let flushed = fflush(f) == 0 && fsync(fileno(f)) == 0
        let closed = fclose(f) == 0
        guard written == bytes.count, flushed, closed else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw LSTMKitError.io("cannot write \(path): \(reason)")
        }
        guard rename(temp, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw LSTMKitError.io("cannot write \(path): \(reason)")
        }
    }

    /// The file `writeAtomically` would replace for `path`, or an error: what is there
    /// already must be a regular file. A device, FIFO or socket would otherwise be
    /// replaced by the file (`--output /dev/zero` run as root replaced /dev/zero).
    public static func writableTarget(_ path: String) throws -> String {
        let target = try resolvingLinks(path)
        var info = stat()
        if stat(target, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file (a device, FIFO or socket)"
            throw LSTMKitError.io("cannot write \(path): it is \(kind); models are written to regular files only")
        }
        return target
    }

    /// The file a path names once symbolic links are followed (up to 40 of them, as the
    /// kernel does); the path itself when it is no link. A dangling link gives its
    /// target, so the write creates it; a loop is refused, as the kernel refuses it
    /// (ELOOP), rather than replaced by the file.
    static func resolvingLinks(_ path: String) throws -> String {
        var current = path
        for _ in 0..<40 {
            var info = stat()
            guard lstat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, Int(PATH_MAX))
            guard n > 0 else { return current }
            let link = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if link.hasPrefix("/") {
                current = link
            } else if let slash = current.lastIndex(of: "/") {
                current = String(current[...slash]) + link
            } else {
                current = link
            }
        }
        throw LSTMKitError.io("cannot write \(path): too many levels of symbolic links (a loop?)")
    }
}
