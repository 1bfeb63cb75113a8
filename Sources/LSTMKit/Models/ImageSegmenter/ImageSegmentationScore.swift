/// Pixel accuracy, per-class IoU and mean IoU from a pixel confusion matrix.
public struct ImageSegmentationScore: Equatable, Sendable {
    public let numClasses: Int
    /// confusion[gold][predicted], counted in pixels.
    public private(set) var confusion: [[Int]]

    public init(numClasses: Int) {
        self.numClasses = numClasses
        confusion = [[Int]](repeating: [Int](repeating: 0, count: numClasses), count: numClasses)
    }

    /// Checks (`Memory.check`) that scoring against `gold` labels fits: the confusion
    /// matrix's rows share one buffer until a gold class counts into its own, so it
    /// holds a row of numClasses counts per gold class present (34 GB when all of the
    /// table's 65536 are). Scoring and training (before its first epoch) call this first.
    public static func checkMemory(numClasses k: Int, gold: [Int32]) throws {
        let present = Set(gold).count
        try Memory.check([min(present, k) + 1, k], elementSize: MemoryLayout<Int>.stride,
                         for: "a confusion matrix of \(k) classes, \(present) of them in the masks")
    }

    /// Counts aligned gold and predicted labels (each in [0, numClasses)).
    public mutating func add(gold: [Int32], predicted: [Int32]) {
        precondition(gold.count == predicted.count, "ImageSegmentationScore.add: \(gold.count) gold vs \(predicted.count) predicted")
        for (g, p) in zip(gold, predicted) { confusion[Int(g)][Int(p)] += 1 }
    }

    public mutating func merge(_ other: ImageSegmentationScore) {
        for g in 0..<numClasses { for p in 0..<numClasses { confusion[g][p] += other.confusion[g][p] } }
    }

    public var pixels: Int { confusion.joined().reduce(0, +) }

    public var pixelAccuracy: Double {
        pixels == 0 ? 0 : Double((0..<numClasses).map { confusion[$0][$0] }.reduce(0, +)) / Double(pixels)
    }

    /// TP / (TP + FP + FN) per class; NaN for a class neither present nor predicted.
    public var iou: [Double] {
        (0..<numClasses).map { c in
            let tp = confusion[c][c]
            let predicted = (0..<numClasses).map { confusion[$0][c] }.reduce(0, +)
            let union = confusion[c].reduce(0, +) + predicted - tp
            return union == 0 ? .nan : Double(tp) / Double(union)
        }
    }

    /// The mean IoU over the classes that occur in gold or predictions (NaN entries skipped).
    public var meanIoU: Double {
        let defined = iou.filter { !$0.isNaN }
        return defined.isEmpty ? 0 : defined.reduce(0, +) / Double(defined.count)
    }
}
