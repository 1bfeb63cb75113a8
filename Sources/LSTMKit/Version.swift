/// The library version; kept equal to LK_VERSION_STRING in include/lstmkit.h
/// (a test checks they agree).
public enum LSTMKitVersion {
    public static let string = "0.1.0"
}
