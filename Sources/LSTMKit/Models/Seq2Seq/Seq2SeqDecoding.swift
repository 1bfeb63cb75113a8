import LSTMKitLayers

/// How `Seq2Seq.translate` decodes: the one definition of the decoding options (name,
/// default, range, doc) that the C ABI, Python and the CLI read (docs/SEQ2SEQ.md).
public struct Seq2SeqDecoding: Equatable, Sendable {
    /// Hypotheses kept per step; 1 is greedy decoding.
    public var beamSize = 5
    /// Translations returned per text, best first; at most `beamSize`.
    public var nBest = 1
    /// Finished hypotheses are ranked by log-probability / length^α, α = this (0: the
    /// plain sum, which favours short outputs).
    public var lengthPenalty: Float = 1
    /// At most ceil(this × source tokens) output tokens; 0: the model's
    /// `max_length_ratio`.
    public var maxLengthRatio: Float = 0

    public init() {}

    public init(beamSize: Int = 5, nBest: Int = 1, lengthPenalty: Float = 1, maxLengthRatio: Float = 0) {
        (self.beamSize, self.nBest, self.lengthPenalty, self.maxLengthRatio) = (beamSize, nBest, lengthPenalty, maxLengthRatio)
    }

    /// Greedy decoding: beam 1, one translation.
    public static let greedy = Seq2SeqDecoding(beamSize: 1)
}

extension Seq2SeqDecoding: HyperParameterized {
    public static var hyperParameters: [HyperParameter<Self>] {
        [
            .int("beam_size", \.beamSize, 1...256, "Hypotheses kept per decoding step (1: greedy)."),
            .int("n_best", \.nBest, 1...256, "Translations returned per text, best first (at most beam_size)."),
            .float("length_penalty", \.lengthPenalty, .closedOpen(0, 10),
                   "Finished hypotheses are ranked by log-probability / length^this (0: the plain sum)."),
            .float("max_length_ratio", \.maxLengthRatio, .closedOpen(0, 100),
                   "At most ceil(this × source tokens) output tokens (0: the model's max_length_ratio)."),
        ]
    }

    public func validateCombination() throws {
        guard nBest <= beamSize else {
            throw LSTMKitError.invalidArgument("n_best must be at most beam_size (\(beamSize)), got \(nBest)")
        }
    }
}

// MARK: Beam search

extension Seq2Seq {
    /// Beam search over non-empty id sequences, all sources of the batch at once: each
    /// step advances one row per live hypothesis (rows = sources × live hypotheses, a
    /// source's rows consecutive, so its beams share its attention memory). Returns each
    /// source's finished hypotheses (at most `beamSize`), best first by `rankScore`.
    ///
    /// Per source and step, the 2·beamSize best extensions by log-probability (ties: lower
    /// token id, then the better-ranked parent) are read in order: an EOS among the first
    /// beamSize finishes its parent (EOS's log-probability included), other tokens extend
    /// a live hypothesis until beamSize are live, so a source keeps beamSize live
    /// hypotheses while finished ones accumulate (the best beamSize kept). A hypothesis
    /// reaching `limits[n]` tokens is finished as it is. A source stops when no live
    /// hypothesis is left or when it has beamSize finished ones and the best live one
    /// cannot beat the worst of them: with lengthPenalty 0 its log-probability, an exact
    /// bound (log-probabilities only fall); with α > 0 its rank score as it stands, the
    /// usual heuristic (Hugging Face's early_stopping=False): a longer output divides by
    /// a larger length^α and could still rank higher, so this can stop early, and an
    /// exact bound (log-probability / limit^α) would decode to the limit far more often.
    /// (`stopEarly` false runs every source to its limit: for the test of the exact bound.)
    func beam(_ sources: [[Int32]], limits: [Int], beamSize k: Int, lengthPenalty alpha: Float,
              weights: Seq2SeqStepWeights?, stopEarly: Bool = true) -> [[Hypothesis]] {
        let (memory, start) = encode(sources)
        let v = target.count
        var live = sources.map { _ in [Hypothesis()] }
        var finished = sources.map { _ in [(rank: Float, hypothesis: Hypothesis)]() }
        func finish(_ h: Hypothesis, _ s: Int) {
            let rank = rankScore(h, lengthPenalty: alpha)
            let at = finished[s].firstIndex { $0.rank < rank } ?? finished[s].count   // after equal ones: first come first
            if at < k { finished[s].insert((rank, h), at: at) }
            if finished[s].count > k { finished[s].removeLast() }
        }
        var active = Array(sources.indices)          // sources still decoding, in row order
        var tokens = [Int32](repeating: Seq2SeqVocabulary.begin, count: sources.count)
        var rowSources = active
        var state = start
        var candidates = BeamCandidates(capacity: 2 * k)
        while !active.isEmpty {
            let (logits, next, attended) = step(memory, tokens: tokens, state: state, sources: rowSources, weights: weights)
            var keep: [Int] = [], stillActive: [Int] = []
            tokens = []
            var first = 0   // the source's first row
            for s in active {
                let hypotheses = live[s]
                candidates.removeAll()
                logits.data.withUnsafeBufferPointer { z in
                    for (i, h) in hypotheses.enumerated() {
                        let row = UnsafeBufferPointer(rebasing: z[((first + i) * v)..<((first + i + 1) * v)])
                        let normaliser = VectorMath.logSumExp(row)
                        for t in 0..<v { candidates.offer(score: h.logProbability + (row[t] - normaliser), token: Int32(t), parent: i) }
                    }
                }
                var kept: [Hypothesis] = [], parents: [Int] = []
                for (rank, c) in candidates.best.enumerated() {
                    var h = hypotheses[c.parent]
                    h.logProbability = c.score
                    if c.token == Seq2SeqVocabulary.end {
                        if rank < k { finish(h, s) }
                        continue
                    }
                    if kept.count == k { break }
                    let row = first + c.parent
                    h.ids.append(c.token)
                    h.attention.append(Array(attended.data[(row * memory.steps)..<(row * memory.steps + sources[s].count)]))
                    if h.ids.count >= limits[s] {
                        finish(h, s)
                    } else {
                        kept.append(h)
                        parents.append(row)
                    }
                }
                first += hypotheses.count
                live[s] = kept
                // kept[0] is the best live hypothesis (all live ones have one length).
                if let best = kept.first, !stopEarly || finished[s].count < k
                    || (alpha == 0 ? best.logProbability : rankScore(best, lengthPenalty: alpha)) > finished[s][k - 1].rank {
                    stillActive.append(s)
                    keep += parents
                    tokens += kept.map { $0.ids.last! }
                } else {
                    live[s] = []
                }
            }
            active = stillActive
            rowSources = active.flatMap { s in [Int](repeating: s, count: live[s].count) }
            state = next.rows(keep)
        }
        return finished.map { $0.map(\.hypothesis) }
    }
}

/// The best `capacity` of a step's candidate extensions, best first: higher score, then
/// lower token id, then lower parent index (a total order, so the choice is deterministic).
struct BeamCandidates {
    struct Candidate {
        let score: Float, token: Int32, parent: Int
        func beats(_ o: Candidate) -> Bool {
            score != o.score ? score > o.score : token != o.token ? token < o.token : parent < o.parent
        }
    }
    let capacity: Int
    private(set) var best: [Candidate] = []

    init(capacity: Int) {
        self.capacity = capacity
        best.reserveCapacity(capacity + 1)
    }

    mutating func removeAll() { best.removeAll(keepingCapacity: true) }

    /// Keeps the candidate if it is among the best `capacity` so far (insertion sort: the
    /// capacity is small and most candidates lose to the last kept one at once).
    mutating func offer(score: Float, token: Int32, parent: Int) {
        let c = Candidate(score: score, token: token, parent: parent)
        if best.count == capacity, !c.beats(best[capacity - 1]) { return }
        var at = best.count
        while at > 0, c.beats(best[at - 1]) { at -= 1 }
        best.insert(c, at: at)
        if best.count > capacity { best.removeLast() }
    }
}
