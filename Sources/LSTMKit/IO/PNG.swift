/// PNG images, read and written without any library: the inputs and masks of the image
/// segmenter's command-line tool.
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
/// Writing produces 8-bit grey or RGB images whose zlib stream uses stored (uncompressed)
/// deflate blocks, with correct CRC-32s and Adler-32: any PNG reader takes them.
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
            let computed = CRC32.checksum(bytes, from: at + 4, count: length + 4)
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
    /// unfiltered, in stored deflate blocks.
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
        out += chunk("IDAT", Zlib.storedStream(raw))
        out += chunk("IEND", [])
        return out
    }

    /// Writes `image` as a PNG file, atomically.
    public static func write(_ image: PNGImage, to path: String) throws {
        try FileIO.writeAtomically(try encode(image), to: path)
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(CRC32.checksum(body, from: 0, count: body.count))
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

/// CRC-32 (ISO 3309, as PNG and zip use it: polynomial 0xEDB88320, reflected).
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of bytes[from ..< from + count].
    public static func checksum(_ bytes: [UInt8], from: Int = 0, count: Int? = nil) -> UInt32 {
        let n = count ?? bytes.count - from
        var c: UInt32 = 0xffff_ffff
        table.withUnsafeBufferPointer { t in
            bytes.withUnsafeBufferPointer { b in
                for i in from..<(from + n) { c = t[Int((c ^ UInt32(b[i])) & 0xff)] ^ (c >> 8) }
            }
        }
        return c ^ 0xffff_ffff
    }
}

/// zlib streams (RFC 1950) around deflate (RFC 1951): inflate of stored, fixed-Huffman
/// and dynamic-Huffman blocks, and a writer of stored blocks.
public enum Zlib {
    public struct Failure: Error { public let why: String }

    /// Adler-32 of bytes.
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        bytes.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                let end = min(i + 5552, p.count)   // the most bytes before b can overflow 32 bits
                while i < end {
                    a &+= UInt32(p[i])
                    b &+= a
                    i += 1
                }
                a %= 65521
                b %= 65521
            }
        }
        return b << 16 | a
    }

    /// A zlib stream of `data` in stored blocks (at most 65535 bytes each).
    public static func storedStream(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]   // deflate, 32 KiB window, no dictionary; (0x7801 % 31 == 0)
        out.reserveCapacity(data.count + data.count / 65535 * 5 + 16)
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let last = start + n == data.count
            out.append(last ? 1 : 0)   // BFINAL, BTYPE 00 (stored)
            out += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            out += data[start..<(start + n)]
            start += n
        } while start < data.count
        out += PNG.bigEndian(adler32(data))
        return out
    }

    /// Decompresses a zlib stream, checking its header and Adler-32. More than `limit`
    /// bytes of output is an error (a PNG knows how much its image data must be).
    public static func decompress(_ stream: [UInt8], limit: Int) throws -> [UInt8] {
        guard stream.count >= 2 else { throw Failure(why: "it is only \(stream.count) bytes long: truncated?") }
        let (cmf, flg) = (stream[0], stream[1])
        guard cmf & 0x0f == 8 else { throw Failure(why: "compression method \(cmf & 0x0f) is not deflate (8)") }
        guard cmf >> 4 <= 7 else { throw Failure(why: "its window size field is \(cmf >> 4) (at most 7)") }
        guard (UInt16(cmf) << 8 | UInt16(flg)) % 31 == 0 else { throw Failure(why: "its header check bits are wrong") }
        guard flg & 0x20 == 0 else { throw Failure(why: "it needs a preset dictionary, which PNG does not allow") }
        var inflater = Inflater(stream, start: 2, limit: limit)
        let out = try inflater.run()
        let end = inflater.byteEnd
        guard end + 4 <= stream.count else { throw Failure(why: "it ends before its Adler-32 checksum: truncated?") }
        let stored = PNG.be32(stream, end)
        let computed = adler32(out)
        guard stored == computed else {
            throw Failure(why: "its Adler-32 \(PNG.hex(stored)) does not match the data's \(PNG.hex(computed))")
        }
        return out
    }

    /// Inflates raw deflate data (no zlib header); for tests and other containers.
    public static func inflate(_ data: [UInt8], limit: Int = 1 << 30) throws -> [UInt8] {
        var inflater = Inflater(data, start: 0, limit: limit)
        return try inflater.run()
    }
}

/// A canonical Huffman code as a lookup table indexed by the next `bits` input bits
/// (LSB first, as deflate packs codes reversed): each entry is symbol << 4 | length,
/// 0 for bit patterns that no code starts with.
struct HuffmanTable {
    let bits: Int
    let entries: [UInt32]

    /// From code lengths (0: unused symbol). Over-subscribed lengths are an error;
    /// incomplete codes are allowed, and reading a missing code is an error then.
    init(lengths: [Int], what: String) throws {
        let maxLength = lengths.max() ?? 0
        guard maxLength > 0 else { throw Zlib.Failure(why: "the \(what) code has no symbols") }
        var count = [Int](repeating: 0, count: 16)
        for l in lengths where l > 0 { count[l] += 1 }
        var left = 1
        for l in 1...15 {
            left = left * 2 - count[l]
            guard left >= 0 else { throw Zlib.Failure(why: "the \(what) code lengths are over-subscribed") }
        }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for l in 1...15 {
            code = (code + count[l - 1]) << 1
            next[l] = code
        }
        bits = maxLength
        var table = [UInt32](repeating: 0, count: 1 << maxLength)
        for (symbol, l) in lengths.enumerated() where l > 0 {
            let c = next[l]
            next[l] += 1
            var reversed = 0
            for k in 0..<l where c & (1 << k) != 0 { reversed |= 1 << (l - 1 - k) }
            let entry = UInt32(symbol) << 4 | UInt32(l)
            var i = reversed
            while i < table.count {
                table[i] = entry
                i += 1 << l
            }
        }
        entries = table
    }
}

/// The deflate decoder: a bit reader over the input and the block loop.
struct Inflater {
    let input: [UInt8]
    var position: Int          // the next input byte to load into the bit buffer
    var bitBuffer: UInt64 = 0
    var bitCount = 0
    /// Bits consumed past the real end of the input (zeros fed in): any is an error.
    var overrun = 0
    let limit: Int
    var out: [UInt8] = []

    init(_ input: [UInt8], start: Int, limit: Int) {
        self.input = input
        position = start
        self.limit = limit
        out.reserveCapacity(min(limit, 1 << 26))
    }

    /// The first byte after the deflate data (after the final block, byte-aligned).
    var byteEnd: Int { position - bitCount / 8 }

    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
                                    131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
                                      1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
                                       13, 13]
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
    static let fixedLiterals = try! HuffmanTable(
        lengths: [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112) + [Int](repeating: 7, count: 24)
            + [Int](repeating: 8, count: 8), what: "fixed literal/length")
    static let fixedDistances = try! HuffmanTable(lengths: [Int](repeating: 5, count: 30), what: "fixed distance")

    /// Makes at least `n` (<= 56) bits available, feeding zeros past the end.
    @inline(__always)
    mutating func fill(_ n: Int) {
        while bitCount < n {
            if position < input.count {
                bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
            } else {
                overrun += 8
            }
            position += 1
            bitCount += 8
        }
    }

    /// Drops `n` bits; an error if any of them was padding past the input's end.
    @inline(__always)
    mutating func consume(_ n: Int) throws {
        bitBuffer >>= UInt64(n)
        bitCount -= n
        // 8 * position - bitCount bits are consumed; the input holds 8 * input.count.
        if overrun > 0 && 8 * position - bitCount > 8 * input.count {
            throw Zlib.Failure(why: "the deflate data ends early: truncated?")
        }
    }

    mutating func bits(_ n: Int) throws -> Int {
        if n == 0 { return 0 }
        fill(n)
        let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
        try consume(n)
        return v
    }

    mutating func symbol(_ table: HuffmanTable) throws -> Int {
        fill(table.bits)
        let entry = table.entries[Int(bitBuffer & ((1 << UInt64(table.bits)) - 1))]
        guard entry != 0 else { throw Zlib.Failure(why: "it holds a bit pattern that is no Huffman code") }
        try consume(Int(entry & 0xf))
        return Int(entry >> 4)
    }

    mutating func run() throws -> [UInt8] {
        var final = false
        while !final {
            final = try bits(1) == 1
            switch try bits(2) {
            case 0: try stored()
            case 1: try codes(Self.fixedLiterals, Self.fixedDistances)
            case 2:
                let (literals, distances) = try dynamicTables()
                try codes(literals, distances)
            default: throw Zlib.Failure(why: "it holds a block of the reserved type 3")
            }
        }
        // Drop the partial byte after the final block.
        bitBuffer >>= UInt64(bitCount % 8)
        bitCount -= bitCount % 8
        return out
    }

    mutating func stored() throws {
        bitBuffer >>= UInt64(bitCount % 8)
        bitCount -= bitCount % 8
        let length = try bits(16), complement = try bits(16)
        guard length == ~complement & 0xffff else { throw Zlib.Failure(why: "a stored block's length check fails") }
        guard out.count + length <= limit else { throw Zlib.Failure(why: "it decompresses to more than the \(limit) bytes expected") }
        // Whole bytes still in the bit buffer come first, then the input directly.
        var remaining = length
        while remaining > 0 && bitCount >= 8 {
            out.append(UInt8(try bits(8)))
            remaining -= 1
        }
        guard position + remaining <= input.count else { throw Zlib.Failure(why: "a stored block runs past the end: truncated?") }
        out += input[position..<(position + remaining)]
        position += remaining
    }

    mutating func dynamicTables() throws -> (HuffmanTable, HuffmanTable) {
        let literalCount = try bits(5) + 257, distanceCount = try bits(5) + 1, codeLengthCount = try bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else {
            throw Zlib.Failure(why: "a dynamic block declares \(literalCount) literal/length and \(distanceCount) distance codes")
        }
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengths[Self.codeLengthOrder[i]] = try bits(3) }
        let codeLengthTable = try HuffmanTable(lengths: codeLengths, what: "code length")
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let s = try symbol(codeLengthTable)
            switch s {
            case 0...15: lengths.append(s)
            case 16:
                guard let previous = lengths.last else { throw Zlib.Failure(why: "a dynamic block repeats a length before the first") }
                lengths += [Int](repeating: previous, count: 3 + (try bits(2)))
            case 17: lengths += [Int](repeating: 0, count: 3 + (try bits(3)))
            default: lengths += [Int](repeating: 0, count: 11 + (try bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else {
            throw Zlib.Failure(why: "a dynamic block's code lengths run past their count")
        }
        guard lengths[256] > 0 else { throw Zlib.Failure(why: "a dynamic block has no end-of-block code") }
        let literals = try HuffmanTable(lengths: Array(lengths[0..<literalCount]), what: "literal/length")
        let distanceLengths = Array(lengths[literalCount...])
        // A block of literals only may have no distance codes (one length-0 code).
        let distances = distanceLengths.contains(where: { $0 > 0 })
            ? try HuffmanTable(lengths: distanceLengths, what: "distance")
            : HuffmanTable.empty
        return (literals, distances)
    }

    mutating func codes(_ literals: HuffmanTable, _ distances: HuffmanTable) throws {
        while true {
            let s = try symbol(literals)
            if s < 256 {
                guard out.count < limit else { throw Zlib.Failure(why: "it decompresses to more than the \(limit) bytes expected") }
                out.append(UInt8(s))
            } else if s == 256 {
                return
            } else {
                let index = s - 257
                guard index < 29 else { throw Zlib.Failure(why: "it uses the invalid length code \(s)") }
                let length = Self.lengthBase[index] + (try bits(Self.lengthExtra[index]))
                guard distances.bits > 0 else { throw Zlib.Failure(why: "a block without distance codes uses a distance") }
                let d = try symbol(distances)
                guard d < 30 else { throw Zlib.Failure(why: "it uses the invalid distance code \(d)") }
                let distance = Self.distanceBase[d] + (try bits(Self.distanceExtra[d]))
                guard distance <= out.count else {
                    throw Zlib.Failure(why: "a back-reference reaches \(distance) bytes back, before the start of the data")
                }
                guard out.count + length <= limit else {
                    throw Zlib.Failure(why: "it decompresses to more than the \(limit) bytes expected")
                }
                let from = out.count - distance
                for k in 0..<length { out.append(out[from + k]) }
            }
        }
    }
}

extension HuffmanTable {
    /// No codes at all (a block of literals only).
    static let empty = HuffmanTable(bits: 0, entries: [0])

    private init(bits: Int, entries: [UInt32]) {
        self.bits = bits
        self.entries = entries
    }
}
