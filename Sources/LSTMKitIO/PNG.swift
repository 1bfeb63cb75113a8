import CZlib
import LSTMKitCore

/// PNG images: the inputs and masks of the image segmenter's command-line tool. The
/// chunk structure is read here; the deflate streams and CRC-32s are zlib's.
///
/// Reading takes 8-bit images of colour type 0 (grey), 2 (RGB), 4 (grey + alpha) and
/// 6 (RGB + alpha); the alpha channel is dropped, so every image comes out grey (1
/// channel) or RGB (3). Palette images (type 3), other bit depths and interlaced
/// (Adam7) images are refused with a message saying so, as is anything malformed: a bad
/// signature, a chunk whose CRC-32 does not match, a missing or misplaced IHDR, IDAT or
/// IEND, a zlib stream that is corrupt, truncated, too long or fails its Adler-32, an
/// unknown filter type. All five filter types (None, Sub, Up, Average, Paeth) are
/// undone. Nothing a file holds can trap.
///
/// Writing produces 8-bit grey or RGB images, unfiltered, compressed by zlib.
public struct PNGImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// 1 (grey) or 3 (RGB).
    public var channels: Int
    /// (H, W, C) row-major, one byte per sample.
    public var pixels: [UInt8]
    /// The file's colour type (0, 2, 4 or 6); 4 and 6 had an alpha channel, dropped.
    public var colourType: Int

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8], colourType: Int? = nil) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.colourType = colourType ?? (channels == 3 ? 2 : 0)
    }
}

public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
    /// The largest width or height read (the segmenter's limit).
    public static let maxSide = 1 << 14

    /// Whether bytes start with the PNG signature.
    public static func isPNG(_ bytes: [UInt8]) -> Bool { bytes.count >= 8 && Array(bytes[0..<8]) == signature }

    /// Reads a PNG file; `.io` if it cannot be read, `.invalidArgument` naming the path
    /// if it is not a PNG this reader supports.
    public static func read(_ path: String) throws -> PNGImage {
        try decode(try FileIO.read(path), name: path)
    }

    // MARK: Decoding

    /// Decodes the bytes of a PNG file; errors start with `name`.
    public static func decode(_ bytes: [UInt8], name: String) throws -> PNGImage {
        func bad(_ why: String) -> LSTMKitError { .invalidArgument("\(name) is not a PNG image this reader supports: \(why)") }
        guard isPNG(bytes) else {
            throw LSTMKitError.invalidArgument("\(name) is not a PNG image (it does not start with the PNG signature)")
        }
        var at = 8
        var header: (width: Int, height: Int, colourType: Int)?
        var compressed: [UInt8] = []
        var sawIDAT = false, idatEnded = false, sawEnd = false
        while !sawEnd {
            guard at + 12 <= bytes.count else {
                throw bad(at == bytes.count ? "the file ends before its IEND chunk: truncated?"
                          : "the file ends inside a chunk header (byte \(at)): truncated?")
            }
            let length = Int(be32(bytes, at))
            let typeBytes = Array(bytes[(at + 4)..<(at + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard typeBytes.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) }) else {
                throw bad("the chunk at byte \(at) has an invalid type \(typeBytes)")
            }
            guard length <= 0x7fff_ffff, at + 12 + length <= bytes.count else {
                throw bad("chunk \(type) at byte \(at) declares \(length) bytes, past the end of the file: truncated?")
            }
            let dataStart = at + 8
            let stored = be32(bytes, dataStart + length)
            let computed = Zlib.crc32(bytes[(at + 4)..<(dataStart + length)])
            guard stored == computed else {
                throw bad("chunk \(type) at byte \(at) fails its CRC-32 (stored \(hex(stored)), computed \(hex(computed))): "
                          + "the file is corrupt")
            }
            if type != "IHDR" && header == nil { throw bad("the first chunk is \(type), not IHDR") }
            if sawIDAT && type != "IDAT" { idatEnded = true }
            switch type {
            case "IHDR":
                guard header == nil else { throw bad("it holds two IHDR chunks") }
                guard length == 13 else { throw bad("its IHDR chunk holds \(length) bytes, not 13") }
                let width = Int(be32(bytes, dataStart)), height = Int(be32(bytes, dataStart + 4))
                let (depth, colour) = (Int(bytes[dataStart + 8]), Int(bytes[dataStart + 9]))
                let (method, filter, interlace) = (bytes[dataStart + 10], bytes[dataStart + 11], bytes[dataStart + 12])
                guard width >= 1, height >= 1, width <= 0x7fff_ffff, height <= 0x7fff_ffff else {
                    throw bad("its size \(width)×\(height) is invalid")
                }
                guard width <= maxSide, height <= maxSide else {
                    throw bad("it is \(width)×\(height) pixels; at most \(maxSide) a side are supported")
                }
                switch colour {
                case 0, 2, 4, 6: break
                case 3: throw bad("it is a palette image (colour type 3); save it as grey or RGB")
                default: throw bad("colour type \(colour) is not a PNG colour type")
                }
                guard depth == 8 else {
                    throw bad("its bit depth is \(depth); only 8-bit images are supported (convert it to 8 bits a sample)")
                }
                guard method == 0 else { throw bad("compression method \(method) is unknown (only 0, deflate, exists)") }
                guard filter == 0 else { throw bad("filter method \(filter) is unknown (only 0 exists)") }
                guard interlace == 0 else {
                    throw bad(interlace == 1 ? "it is interlaced (Adam7); save it without interlacing"
                              : "interlace method \(interlace) is unknown")
                }
                header = (width, height, colour)
            case "IDAT":
                guard !idatEnded else { throw bad("its IDAT chunks are not consecutive") }
                sawIDAT = true
                compressed += bytes[dataStart..<(dataStart + length)]
            case "IEND":
                sawEnd = true
            case "PLTE":
                break   // a suggested palette of a truecolour image: not needed
            default:
                // Lower-case first letter: ancillary (text, gamma, ...), safe to skip.
                guard typeBytes[0] & 0x20 != 0 else { throw bad("it holds an unknown critical chunk \(type)") }
            }
            at = dataStart + length + 4
        }
        guard let header else { throw bad("it has no IHDR chunk") }
        guard sawIDAT else { throw bad("it has no IDAT chunk (no image data)") }
        let samples = [0: 1, 2: 3, 4: 2, 6: 4][header.colourType]!
        let rowBytes = header.width * samples
        let expected = header.height * (rowBytes + 1)
        // The image data, unfiltered rows and pixels: about three times the image.
        try Memory.check([3, expected], elementSize: 1, for: "\(name): a \(header.width)×\(header.height) PNG")
        let raw: [UInt8]
        do {
            raw = try Zlib.decompress(compressed, limit: expected)
        } catch let e as Zlib.Failure {
            throw bad("its image data is not a valid zlib stream: \(e.why)")
        }
        guard raw.count == expected else {
            throw bad("its image data holds \(raw.count) bytes; \(header.width)×\(header.height) pixels of "
                      + "\(samples) sample\(samples == 1 ? "" : "s") need \(expected)")
        }
        let unfiltered = try unfilter(raw, rows: header.height, stride: rowBytes, bytesPerPixel: samples, bad)
        let channels = header.colourType == 0 || header.colourType == 4 ? 1 : 3
        var pixels: [UInt8]
        if samples == channels {
            pixels = unfiltered
        } else {
            // Drop the alpha sample of each pixel.
            pixels = [UInt8](repeating: 0, count: header.width * header.height * channels)
            var o = 0
            for i in stride(from: 0, to: unfiltered.count, by: samples) {
                for c in 0..<channels { pixels[o + c] = unfiltered[i + c] }
                o += channels
            }
        }
        return PNGImage(width: header.width, height: header.height, channels: channels, pixels: pixels,
                        colourType: header.colourType)
    }

    /// Undoes the per-row filters: `raw` holds `rows` rows of a filter-type byte then
    /// `stride` bytes. Returns the rows without their type bytes.
    static func unfilter(_ raw: [UInt8], rows: Int, stride: Int, bytesPerPixel bpp: Int,
                         _ bad: (String) -> LSTMKitError) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows * stride)
        try raw.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    let type = src[r * (stride + 1)]
                    let s = r * (stride + 1) + 1, d = r * stride, up = d - stride
                    switch type {
                    case 0:
                        for i in 0..<stride { dst[d + i] = src[s + i] }
                    case 1:
                        for i in 0..<stride { dst[d + i] = src[s + i] &+ (i >= bpp ? dst[d + i - bpp] : 0) }
                    case 2:
                        for i in 0..<stride { dst[d + i] = src[s + i] &+ (r > 0 ? dst[up + i] : 0) }
                    case 3:
                        for i in 0..<stride {
                            let left = i >= bpp ? Int(dst[d + i - bpp]) : 0, above = r > 0 ? Int(dst[up + i]) : 0
                            dst[d + i] = src[s + i] &+ UInt8((left + above) >> 1)
                        }
                    case 4:
                        for i in 0..<stride {
                            let a = i >= bpp ? Int(dst[d + i - bpp]) : 0
                            let b = r > 0 ? Int(dst[up + i]) : 0
                            let c = r > 0 && i >= bpp ? Int(dst[up + i - bpp]) : 0
                            let p = a + b - c
                            let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                            let predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                            dst[d + i] = src[s + i] &+ UInt8(predictor)
                        }
                    default:
                        throw bad("row \(r) has filter type \(type); only 0 to 4 exist")
                    }
                }
            }
        }
        return out
    }

    // MARK: Encoding

    /// The bytes of an 8-bit PNG of `pixels` ((H, W, C) row-major, C = 1 grey or 3 RGB),
    /// unfiltered.
    public static func encode(_ image: PNGImage) throws -> [UInt8] {
        let (w, h, c) = (image.width, image.height, image.channels)
        guard c == 1 || c == 3 else { throw LSTMKitError.invalidArgument("a PNG is written with 1 or 3 channels, not \(c)") }
        guard w >= 1, h >= 1, w <= 0x7fff_ffff, h <= 0x7fff_ffff else {
            throw LSTMKitError.invalidArgument("a PNG of \(w)×\(h) pixels cannot be written")
        }
        let stride = w * c
        guard image.pixels.count == h * stride else {
            throw LSTMKitError.sizeMismatch("\(image.pixels.count) samples for a \(w)×\(h)×\(c) PNG that needs \(h * stride)")
        }
        var raw = [UInt8]()
        raw.reserveCapacity(h * (stride + 1))
        for r in 0..<h {
            raw.append(0)   // filter type None
            raw += image.pixels[(r * stride)..<((r + 1) * stride)]
        }
        var ihdr = [UInt8]()
        ihdr += bigEndian(UInt32(w)) + bigEndian(UInt32(h))
        ihdr += [8, c == 1 ? 0 : 2, 0, 0, 0]
        var out = signature
        out += chunk("IHDR", ihdr)
        out += chunk("IDAT", try Zlib.compress(raw))
        out += chunk("IEND", [])
        return out
    }

    /// Writes `image` as a PNG file, atomically.
    public static func write(_ image: PNGImage, to path: String) throws {
        try FileIO.writeAtomically(try encode(image), to: path)
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(Zlib.crc32(body[...]))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}


/// zlib (RFC 1950) streams and CRC-32s, by the zlib library.
enum Zlib {
    struct Failure: Error { let why: String }

    /// The CRC-32 of bytes (as PNG and zip use it).
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { b in
            // zlib takes a 32-bit length: feed at most 1 GiB at a time.
            var crc = CZlib.crc32(0, nil, 0)
            var at = 0
            repeat {
                let n = min(b.count - at, 1 << 30)
                crc = CZlib.crc32(crc, b.baseAddress.map { $0 + at }, uInt(n))
                at += n
            } while at < b.count
            return UInt32(truncatingIfNeeded: crc)
        }
    }

    /// Decompresses a zlib stream (checking its header and Adler-32). More than `limit`
    /// bytes of output is an error (a PNG knows how much its image data must be); the
    /// output grows as the stream yields it, so a small file that claims a huge image
    /// allocates little before it is refused.
    static func decompress(_ stream: [UInt8], limit: Int) throws -> [UInt8] {
        var z = z_stream()
        guard inflateInit_(&z, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(why: "zlib could not start (out of memory?)")
        }
        defer { inflateEnd(&z) }
        var input = stream
        var out = [UInt8](repeating: 0, count: min(limit, 1 << 16) + 1)
        var produced = 0
        var status = Z_OK
        input.withUnsafeMutableBufferPointer { inp in
            z.next_in = inp.baseAddress
            z.avail_in = uInt(inp.count)   // an IDAT total past 4 GiB cannot be read (PNG's chunks are < 2 GiB each)
            while status == Z_OK {
                if produced == out.count {
                    guard out.count <= limit else { return }   // more than limit
                    out += [UInt8](repeating: 0, count: min(out.count, limit + 1 - out.count))
                }
                status = out.withUnsafeMutableBufferPointer { o in
                    z.next_out = o.baseAddress! + produced
                    z.avail_out = uInt(min(o.count - produced, Int(UInt32.max)))
                    let before = z.avail_out
                    let s = inflate(&z, Z_NO_FLUSH)
                    produced += Int(before - z.avail_out)
                    return s
                }
                if status == Z_BUF_ERROR && z.avail_in > 0 { status = Z_OK }   // only room was short
            }
        }
        if produced > limit { throw Failure(why: "it holds more than the \(limit) bytes the image needs") }
        switch status {
        case Z_STREAM_END:
            return Array(out[..<produced])
        case Z_BUF_ERROR:
            throw Failure(why: "it ends early: truncated?")
        case Z_DATA_ERROR:
            let why = z.msg.map { String(cString: $0) } ?? "corrupt data"
            throw Failure(why: why == "incorrect data check" ? "its Adler-32 checksum does not match the data" : why)
        case Z_MEM_ERROR:
            throw Failure(why: "zlib ran out of memory")
        default:
            throw Failure(why: "zlib status \(status)")
        }
    }

    /// A zlib stream of `data` at zlib's default compression level.
    static func compress(_ data: [UInt8]) throws -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { d in compress2(o.baseAddress, &size, d.baseAddress, uLong(d.count), Z_DEFAULT_COMPRESSION) }
        }
        guard status == Z_OK else { throw LSTMKitError.invalidArgument("zlib could not compress the image (status \(status))") }
        return Array(out[..<Int(size)])
    }
}
