import Testing
@testable import LSTMKit

/// The attention heat map (LSTMKitIO/HeatMap.swift) that `lstmkit translate --attention-png` writes.
@Suite struct HeatMapTests {
    @Test func cellsGridAndClamping() throws {
        let image = try PNGImage.heatMap([[0, 1, 0.5], [2, -1, .nan]], cell: 2)
        #expect((image.width, image.height, image.channels) == (10, 7, 1))   // 3 × (2 + 1) + 1 by 2 × (2 + 1) + 1
        func pixel(_ x: Int, _ y: Int) -> UInt8 { image.pixels[y * image.width + x] }
        #expect(pixel(0, 0) == 208 && pixel(3, 1) == 208)   // the grid
        #expect([pixel(1, 1), pixel(2, 2), pixel(4, 1), pixel(7, 2)] == [255, 255, 0, 127])   // 0 white, 1 black, 0.5 half
        #expect([pixel(1, 4), pixel(4, 5), pixel(8, 5)] == [0, 255, 255])   // clamped; NaN as 0
        #expect(try PNG.decode(try PNG.encode(image), name: "heat map") == image)
    }

    @Test func emptyOrRaggedIsRefused() {
        #expect(throws: LSTMKitError.self) { try PNGImage.heatMap([]) }
        #expect(throws: LSTMKitError.self) { try PNGImage.heatMap([[]]) }
        #expect(throws: LSTMKitError.self) { try PNGImage.heatMap([[1, 0], [1]]) }
        #expect(throws: LSTMKitError.self) { try PNGImage.heatMap([[1]], cell: 0) }
    }
}
