import LSTMKitCore

/// Word-segmentation scores as the SIGHAN bakeoff reports them: a predicted word is
/// right when its character span equals a gold word's span.
public struct SegmentationScore: Equatable, Sendable {
    public var goldWords = 0
    public var predictedWords = 0
    public var correctWords = 0
    public var oovWords = 0
    public var correctOOVWords = 0

    public init() {}

    public var precision: Double { predictedWords == 0 ? 0 : Double(correctWords) / Double(predictedWords) }
    public var recall: Double { goldWords == 0 ? 0 : Double(correctWords) / Double(goldWords) }
    public var f1: Double {
        let (p, r) = (precision, recall)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }
    public var oovRate: Double { goldWords == 0 ? 0 : Double(oovWords) / Double(goldWords) }
    public var oovRecall: Double { oovWords == 0 ? 0 : Double(correctOOVWords) / Double(oovWords) }
    public var ivRecall: Double {
        let iv = goldWords - oovWords
        return iv == 0 ? 0 : Double(correctWords - correctOOVWords) / Double(iv)
    }

    /// Adds one sentence. Both sides must hold the same characters.
    public mutating func add(gold: [String], predicted: [String], knownWords: Set<String>) throws {
        guard gold.joined() == predicted.joined() else {
            throw LSTMKitError.invalidArgument("gold and predicted text differ: \"\(gold.joined())\" vs \"\(predicted.joined())\"")
        }
        func spans(_ words: [String]) -> [Range<Int>] {
            var out: [Range<Int>] = []
            var position = 0
            for w in words {
                let n = w.count
                out.append(position..<(position + n))
                position += n
            }
            return out
        }
        let predictedSpans = Set(spans(predicted))
        goldWords += gold.count
        predictedWords += predicted.count
        for (word, span) in zip(gold, spans(gold)) {
            let right = predictedSpans.contains(span)
            if right { correctWords += 1 }
            if !knownWords.contains(word) {
                oovWords += 1
                if right { correctOOVWords += 1 }
            }
        }
    }

    public var summary: String {
        func pct(_ x: Double) -> String { String(Double(Int((x * 1_000_000).rounded())) / 10_000) }
        return "P \(pct(precision))  R \(pct(recall))  F1 \(pct(f1))  OOV rate \(pct(oovRate))  OOV recall \(pct(oovRecall))  IV recall \(pct(ivRecall))"
    }
}
