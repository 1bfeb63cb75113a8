import Foundation
import Testing
@testable import LSTMKit

/// Tests/Fixtures/cws: 200/50/50 sentences of People's Daily (see its README).
let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/cws").path

/// A small tokenizer trained once on the fixture corpus (a few seconds).
let fixtureTokenizer: Tokenizer = {
    var config = SegmenterConfig()
    config.characterDim = 16
    config.bigramDim = 8
    config.hiddenSize = 16
    var options = TokenizerTrainingOptions()
    options.epochs = 3
    options.minBigramCount = 1
    options.batchSize = 8
    options.threads = 1
    let trainer = try! TokenizerTrainer(train: try! Corpus.readSegmented(fixtureDirectory + "/train.txt"),
                                        dev: try! Corpus.readSegmented(fixtureDirectory + "/dev.txt"),
                                        config: config, options: options)
    try! trainer.run(checkpointPath: nil, bestPath: nil) { _ in }
    trainer.restoreBest()
    return trainer.tokenizer
}()

/// A tiny network and one short epoch on the fixture corpus: for tests of training itself.
func tinyTraining(maxBatches: Int) throws -> (SegmenterConfig, TokenizerTrainingOptions, [[String]], [[String]]) {
    var config = SegmenterConfig()
    config.characterDim = 8; config.bigramDim = 4; config.hiddenSize = 8
    var options = TokenizerTrainingOptions()
    options.epochs = 1; options.maxBatchesPerEpoch = maxBatches; options.threads = 1; options.minBigramCount = 1
    return (config, options, try Corpus.readSegmented(fixtureDirectory + "/train.txt"),
            try Corpus.readSegmented(fixtureDirectory + "/dev.txt"))
}

/// Random strings over scripts and oddities: CJK, Latin, digits, full-width forms,
/// punctuation, whitespace, emoji, combining marks, controls.
func randomText(_ rng: inout SeededRandom, maxLength: Int) -> String {
    let ranges: [ClosedRange<UInt32>] = [
        0x4E00...0x4E80, 0x0041...0x007A, 0x0030...0x0039, 0xFF01...0xFF5E, 0x3000...0x3011,
        0x0020...0x0020, 0x0009...0x000D, 0x1F600...0x1F64F, 0x0300...0x036F, 0x0000...0x001F,
        0x00A0...0x00FF, 0x2000...0x206F, 0xAC00...0xAC40, 0x1F1E6...0x1F1FF, 0x200D...0x200D,
    ]
    let n = Int(rng.next() % UInt64(maxLength + 1))
    var s = String.UnicodeScalarView()
    for _ in 0..<n {
        let r = ranges[Int(rng.next() % UInt64(ranges.count))]
        let v = r.lowerBound + UInt32(rng.next() % UInt64(r.upperBound - r.lowerBound + 1))
        s.append(Unicode.Scalar(v)!)
    }
    return String(s)
}

@Suite("Tokenizer")
struct TokenizerTests {
    @Test("output joined equals the input, for tricky and for random strings")
    func lossless() {
        let tricky = ["", " ", "\n\t \r\n", "　", "中国人民", "Ｈｅｌｌｏ，世界！123 abc", "👨‍👩‍👧‍👦家庭🇨🇳",
                      "e\u{301}te\u{301}", "\u{0}\u{1}控制\u{7F}", "１９９８年", "我爱  北京", "。。。！？",
                      String(repeating: "啊", count: 1000), "a\u{200D}b"]
        for text in tricky {
            let words = fixtureTokenizer.cut(text)
            #expect(words.joined() == text, "\(text.debugDescription)")
            #expect(!words.contains(""), "empty token for \(text.debugDescription)")
        }
        var rng = SeededRandom(seed: 99)
        let texts = (0..<300).map { _ in randomText(&rng, maxLength: 60) }
        let many = fixtureTokenizer.cutMany(texts, threads: 2)
        for (text, words) in zip(texts, many) {
            #expect(words.joined() == text, "\(text.debugDescription)")
        }
        #expect(many == texts.map { fixtureTokenizer.cut($0) })
    }

    @Test("a very long line gives exactly the result of its sentences")
    func longLine() {
        let sentences = try! Corpus.readSegmented(fixtureDirectory + "/test.txt").map { $0.joined() }
            .filter { $0.hasSuffix("。") }
        #expect(sentences.count > 10)
        var line = ""
        var expected: [String] = []
        var i = 0
        while line.count < 120_000 {
            let s = sentences[i % sentences.count]
            line += s
            expected += fixtureTokenizer.cut(s)
            i += 1
        }
        let words = fixtureTokenizer.cut(line)
        #expect(words.joined() == line)
        #expect(words == expected)
        // No sentence-final punctuation at all: cut into bounded pieces, still lossless.
        let plain = String(repeating: "中国人民大学", count: 20_000)
        #expect(fixtureTokenizer.cut(plain).joined() == plain)
    }

    @Test("user words come out whole; other text is unchanged")
    func userDictionary() throws {
        let tokenizer = try Tokenizer(modelFile: fixtureTokenizer.modelFile())
        // Find a 3-4 character stretch of the test text that the model splits.
        let texts = try Corpus.readSegmented(fixtureDirectory + "/test.txt").map { $0.joined() }
        var target: (word: String, text: String)?
        search: for text in texts {
            let chars = Array(text)
            for n in [4, 3] where chars.count > n {
                for start in 0...(chars.count - n) {
                    let word = String(chars[start..<(start + n)])
                    guard word.allSatisfy({ $0.unicodeScalars.first!.value >= 0x4E00 }) else { continue }
                    if !tokenizer.cut(text).contains(word) { target = (word, text); break search }
                }
            }
        }
        let (word, text) = try #require(target)
        let unrelated = texts.filter { !$0.contains(word) }.prefix(20)
        let before = unrelated.map { tokenizer.cut($0) }
        tokenizer.addWords([word])
        let after = tokenizer.cut(text)
        #expect(after.contains(word), "\(word) in \(after)")
        #expect(after.joined() == text)
        #expect(unrelated.map { tokenizer.cut($0) } == before)
        // Full-width and half-width forms match each other.
        tokenizer.addWords(["ＡＢＣ１２"])
        #expect(tokenizer.cut("他说ABC12很好").contains("ABC12"))
        tokenizer.userDictionary.removeAll()
        #expect(unrelated.map { tokenizer.cut($0) } == before)
        tokenizer.addWords(["", "   "])
        #expect(tokenizer.userDictionary.isEmpty)
    }

    @Test("Latin words come out whole and apart from Chinese, unless a user word says otherwise")
    func latinWords() throws {
        let tokenizer = try Tokenizer(modelFile: fixtureTokenizer.modelFile())
        for (text, word) in [("买了iPhone12手机", "iPhone12"), ("用ＤＩＹ方法", "ＤＩＹ"), ("他说OK了", "OK"), ("T恤很好看", "T"),
                             ("出版的ＣＤ—ＲＯＭ光盘", "ＣＤ—ＲＯＭ"), ("连上Wi-Fi了", "Wi-Fi")] {
            let words = tokenizer.cut(text)
            #expect(words.joined() == text)
            #expect(words.contains(word), "\(word) in \(words)")
        }
        tokenizer.addWords(["T恤"])
        #expect(tokenizer.cut("T恤很好看").first == "T恤")
        #expect(ScriptBoundaries.constrain(["1", "9", "年"], nil) == nil)   // digits alone: the network decides
    }

    @Test("a dictionary file in jieba's format")
    func dictionaryFile() throws {
        let path = temporaryPath("dict.txt")
        defer { unlink(path) }
        try FileIO.writeAtomically(Array("北京大学 100 nt\n\n人民日报\t5\n".utf8), to: path)
        let tokenizer = try Tokenizer(modelFile: fixtureTokenizer.modelFile())
        try tokenizer.loadDictionary(path: path)
        #expect(tokenizer.userDictionary.count == 2)
        #expect(tokenizer.cut("我在北京大学读人民日报").contains("北京大学"))
        #expect(throws: LSTMKitError.self) { try tokenizer.loadDictionary(path: "/nonexistent/dict.txt") }
    }

    @Test("save and load: same bytes, same segmentation; wrong kinds refused")
    func saveLoad() throws {
        let path = temporaryPath("tok.safetensors")
        defer { unlink(path) }
        try fixtureTokenizer.save(to: path)
        let loaded = try Tokenizer.load(from: path)
        #expect(loaded.modelFile().serialized() == fixtureTokenizer.modelFile().serialized())
        let texts = try Corpus.readSegmented(fixtureDirectory + "/dev.txt").map { $0.joined() }
        #expect(loaded.cutMany(texts) == fixtureTokenizer.cutMany(texts))
        // An LSTM file is not a tokenizer.
        let lstmPath = temporaryPath("lstm-not-tok.safetensors")
        defer { unlink(lstmPath) }
        try LSTM(LSTMConfig(inputSize: 2, hiddenSize: 2)).save(to: lstmPath)
        do {
            _ = try Tokenizer.load(from: lstmPath)
            Issue.record("an LSTM file loaded as a tokenizer")
        } catch let LSTMKitError.invalidFormat(message) {
            #expect(message.contains("\"lstm\"") && message.contains("\"tokenizer\""), "\(message)")
        }
    }

    @Test("tags: one BMES tag per Unicode scalar, as the Python binding")
    func tags() {
        let text = "我们在北京 工作"
        let tags = fixtureTokenizer.tag(text)
        #expect(tags.count == text.count)
        #expect(tags.allSatisfy { ["B", "M", "E", "S"].contains($0) })
        #expect(BMES.wordLengths(tags: tags.map { Int32(BMES.names.firstIndex(of: $0)!) }).reduce(0, +) == text.count)
        #expect(fixtureTokenizer.tag("我  们")[1...2] == ["S", "S"])  // whitespace: one S per character
        // One tag per Unicode scalar, as Python's tag (one per code point): a family
        // emoji is one Character but 7 scalars.
        let emoji = "👨‍👩‍👧‍👦好"
        #expect(fixtureTokenizer.tag(emoji).count == emoji.unicodeScalars.count)
        let words = fixtureTokenizer.cut(emoji)
        let expected = words.flatMap { w -> [String] in
            let n = w.unicodeScalars.count
            return n == 1 ? ["S"] : ["B"] + Array(repeating: "M", count: n - 2) + ["E"]
        }
        #expect(fixtureTokenizer.tag(emoji) == expected)
    }
}

@Suite("Segmentation pieces")
struct PieceTests {
    func chars(_ s: String) -> [String] { s.map(CharacterVocabulary.normalize) }

    @Test("sentences end after their punctuation; whitespace is its own span")
    func split() {
        let pieces = TextPieces(maxLength: 10)
        #expect(pieces.split(chars("你好。我好！！ 他")) == [.text(0..<3), .text(3..<7), .space(7..<8), .text(8..<9)])
        // At the length limit: cut after the last clause punctuation, else hard.
        #expect(pieces.split(chars("一二三，四五六七八九十甲")) == [.text(0..<4), .text(4..<12)])
        #expect(pieces.split(chars("一二三四五六七八九十甲乙")) == [.text(0..<10), .text(10..<12)])
        #expect(pieces.split([]) == [])
    }

    @Test("full-width Latin letters and digits normalise to ASCII")
    func normalization() {
        #expect(chars("Ａｚ０９！　") == ["A", "z", "0", "9", "!", " "])
        #expect(chars("中") == ["中"])
    }

    @Test("dictionary features mark words that begin and end at each character")
    func features() {
        let v = CharacterVocabulary(characters: ["在", "北", "京", "大", "学"], bigrams: ["北京", "\u{2}在"], words: ["北京", "北京大学"], maxWordLength: 4)
        let f = v.encode(chars("在北京大学")).features
        #expect(v.featureCount == 6)
        func row(_ i: Int) -> [Float] { Array(f[(i * 6)..<(i * 6 + 6)]) }
        // columns: (n=2 ends, n=2 begins, n=3 ends, n=3 begins, n=4 ends, n=4 begins)
        #expect(row(1) == [0, 1, 0, 0, 0, 1])
        #expect(row(2) == [1, 0, 0, 0, 0, 0])
        #expect(row(4) == [0, 0, 0, 0, 1, 0])
        #expect(row(0) == [0, 0, 0, 0, 0, 0])
        // Bigram ids (2 + index): (start, 在) and (北, 京) are known, the rest unknown (1).
        #expect(v.encode(chars("在北京大学")).bigrams == [3, 1, 2, 1, 1, 1])
        #expect(v.encode(chars("在北京大学")).characters == [2, 3, 4, 5, 6])
        // A character outside the vocabulary breaks every word and bigram through it.
        #expect(v.encode(chars("北X京")).bigrams == [1, 1, 1, 1])
    }

    @Test("lexicon features follow the dictionary's; only words that can match are kept")
    func lexiconFeatures() {
        let base = CharacterVocabulary(characters: ["在", "北", "京", "大", "学", "A"], bigrams: [], words: ["北京"], maxWordLength: 2)
        // Normalised (Ａ → A); too short, too long, or with an unknown character: dropped.
        let v = base.with(lexicon: ["大学", "北京大学", "学", "Ａ大", "北京大学在", "X大", "大学"], maxLength: 4)
        #expect(v.lexicon?.wordCount == 3 && v.lexiconMaxLength == 4)
        #expect(v.featureCount == 2 + 6)
        let ids = { (s: String) in v.encode(chars(s)).characters }
        #expect(v.lexicon!.contains(ids("A大")) && v.lexicon!.contains(ids("Ａ大")) && !v.lexicon!.contains(ids("北京")))
        let f = v.encode(chars("在北京大学")).features
        func row(_ i: Int) -> [Float] { Array(f[(i * 8)..<(i * 8 + 8)]) }
        // columns: dictionary (n=2 ends, begins), then lexicon (n=2 ends, begins, n=3 …, n=4 …)
        #expect(row(1) == [0, 1, 0, 0, 0, 0, 0, 1])
        #expect(row(2) == [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(row(3) == [0, 0, 0, 1, 0, 0, 0, 0])
        #expect(row(4) == [0, 0, 1, 0, 0, 0, 1, 0])
        #expect(v != base && v == base.with(lexicon: ["北京大学", "大学", "A大"], maxLength: 4))
    }

    @Test("the lexicon filter: every word found, few false finds; base64 round-trips")
    func lexiconFilter() {
        var rng = SeededRandom(seed: 7)
        func word() -> [Int32] { (0..<(2 + Int(rng.next() % 4))).map { _ in Int32(2 + rng.next() % 3000) } }
        let words = (0..<20_000).map { _ in word() }
        let filter = LexiconFilter(words: words, maxLength: 5)
        #expect(words.allSatisfy { filter.contains($0) })
        let set = Set(words)
        let others = (0..<20_000).map { _ in word() }.filter { !set.contains($0) }
        let falseFinds = others.filter { filter.contains($0) }.count
        #expect(Double(falseFinds) / Double(others.count) < 0.01, "\(falseFinds) of \(others.count)")
        for n in 0..<8 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("Man".utf8)) == "TWFu" && Base64.encode(Array("Ma".utf8)) == "TWE=")
        #expect(Base64.decode("TWE") == nil && Base64.decode("T*E=") == nil && Base64.decode("T===") == nil)
    }

    @Test("a tokenizer trained with a lexicon stores it, round-trips exactly, and uses it")
    func lexiconTraining() throws {
        var (config, options, train, dev) = try tinyTraining(maxBatches: 5)
        options.lexiconMaxLength = 4
        #expect(throws: LSTMKitError.self) { try TokenizerTrainer(train: train, dev: dev, config: config, options: options) }
        for change in [{ (o: inout TokenizerTrainingOptions) in o.lexiconMaxLength = 1 }, { $0.lexiconMaxLength = 17 },
                       { $0.averageDecay = 1 }, { $0.averageDecay = -0.1 }, { $0.averageDecay = .nan }, { $0.dictionaryMinCount = 0 }] {
            var bad = options
            change(&bad)
            #expect(throws: LSTMKitError.self) { try TokenizerTrainer(train: train, dev: dev, lexicon: ["中国"], config: config, options: bad) }
        }
        let lexicon = ["中国", "人民", "日报社", "改革开放"]
        let trainer = try TokenizerTrainer(train: train, dev: dev, lexicon: lexicon, config: config, options: options)
        try trainer.run(checkpointPath: nil, bestPath: nil) { _ in }
        let tokenizer = trainer.tokenizer
        #expect(tokenizer.vocabulary.lexiconMaxLength == 4 && tokenizer.vocabulary.lexicon!.wordCount == 4)
        #expect(tokenizer.vocabulary.lexicon!.contains(tokenizer.vocabulary.encode(chars("中国")).characters))
        #expect(tokenizer.network.config.featureCount == tokenizer.vocabulary.featureCount)
        let loaded = try Tokenizer(modelFile: tokenizer.modelFile())
        #expect(loaded.vocabulary == tokenizer.vocabulary)
        #expect(loaded.modelFile().serialized() == tokenizer.modelFile().serialized())
        let texts = dev.map { $0.joined() }
        #expect(loaded.cutMany(texts) == tokenizer.cutMany(texts))
        // A file without the lexicon keys (written before lexicons existed) loads with none.
        #expect(try Tokenizer(modelFile: fixtureTokenizer.modelFile()).vocabulary.lexiconMaxLength == 0)
        for (key, value) in [("lexicon_max_length", "99"), ("lexicon_hashes", "0"), ("lexicon_filter", "not base64!"),
                             ("lexicon_filter", "TWFu"), ("lexicon_words", "-1")] {
            var bad = tokenizer.modelFile()
            bad.metadata = bad.metadata.map { $0.0 == key ? ($0.0, value) : $0 }
            #expect(throws: LSTMKitError.self, "\(key) = \(value)") { try Tokenizer(modelFile: bad) }
        }
        var missing = tokenizer.modelFile()
        missing.metadata.removeAll { $0.0 == "lexicon_filter" }
        #expect(throws: LSTMKitError.self) { try Tokenizer(modelFile: missing) }
    }

    @Test("scores by character spans, with OOV and IV recall")
    func scoring() throws {
        var score = SegmentationScore()
        try score.add(gold: ["我们", "在", "北京"], predicted: ["我们", "在北", "京"], knownWords: ["我们", "在"])
        #expect(score.goldWords == 3 && score.predictedWords == 3 && score.correctWords == 1)
        #expect(score.oovWords == 1 && score.correctOOVWords == 0)
        #expect(abs(score.ivRecall - 0.5) < 1e-12)
        #expect(throws: LSTMKitError.self) { try score.add(gold: ["a"], predicted: ["b"], knownWords: []) }
    }
}

@Suite("Text units: the scalar path agrees with the Character path")
struct TextUnitTests {
    @Test("every safe BMP scalar: a Character on its own, classes as the String definitions give")
    func safeScalars() {
        let table = UnitClass.scalarTable
        var safe = 0
        for v in UInt32(0)..<0x10000 where table[Int(v)] & UnitClass.safe != 0 {
            safe += 1
            let s = Unicode.Scalar(v)!
            let p = s.properties
            #expect(!p.isGraphemeExtend && ![.spacingMark, .nonspacingMark, .enclosingMark].contains(p.generalCategory)
                    && v != 0x0D && v != 0x200D, "U+\(String(v, radix: 16))")
            // Between neighbours of every kind the fast path reads, it stays one Character.
            let text = String(String.UnicodeScalarView([s, "中", s, "a", s, "\n", s, "Ａ", s, "。", s, s, "\u{20000}", s]))
            #expect(text.count == 14, "U+\(String(v, radix: 16))")
            let normalized = CharacterVocabulary.normalize(Character(s))
            #expect(table[Int(v)] & ~UnitClass.safe == UnitClass.of(normalized: normalized), "U+\(String(v, radix: 16))")
        }
        #expect(safe > 30_000)
        for v: UInt32 in [0x20000, 0x2A6DF, 0x30000, 0x323AF] {
            #expect(UnitClass.isSafeSupplementary(v) && Unicode.Scalar(v)!.properties.generalCategory == .otherLetter)
        }
    }

    @Test("random and tricky texts: the same ids, classes and UTF-8 ends on both paths")
    func bothPaths() {
        let v = fixtureTokenizer.vocabulary
        var rng = SeededRandom(seed: 7)
        var texts = (0..<500).map { _ in randomText(&rng, maxLength: 40) }
        texts += ["", "中国人民", "Ｈｅｌｌｏ，世界！123 abc", "e\u{301}te\u{301}", "a\r\nb", "１９９８年　我爱北京。", "𠀀𪚥中"]
        var fast = 0
        for text in texts {
            let units = TextUnits(text, v)
            #expect(units == TextUnits(text, v, scalars: false), "\(text.debugDescription)")
            #expect(units.ends.last ?? 0 == text.utf8.count)
            if text.unicodeScalars.count == text.count { fast += 1 }
        }
        #expect(fast > 50)
    }

    @Test("token ends are the cut's UTF-8 ends; Characters of many scalars stay whole")
    func tokenEnds() {
        let texts = ["我爱北京天安门", "e\u{301}中国\r\n人民👨‍👩‍👧是", "", "  Ｈｅｌｌｏ，世界！", "𠀀𪚥中国"]
        let ends = fixtureTokenizer.tokenEnds(texts, threads: 2)
        for (text, (cut, e)) in zip(texts, zip(fixtureTokenizer.cutMany(texts), ends)) {
            var end = 0
            #expect(e == cut.map { end += $0.utf8.count; return end })
            #expect(cut.joined() == text)
        }
        #expect(fixtureTokenizer.cut("e\u{301}中国\r\n").contains { $0.hasPrefix("e\u{301}") })
        #expect(fixtureTokenizer.cut("中国\r\n人民").contains("\r\n"))
    }
}

@Suite("Loading without drawing initial values")
struct SkippedInitialValuesTests {
    @Test("fills leave their arrays and advance the generator as drawing would")
    func fills() {
        var a = SeededRandom(seed: 3), b = SeededRandom(seed: 3)
        var x = [Float](repeating: 0, count: 10), y = [Float](repeating: 0, count: 10)
        a.fillNormal(&x, scale: 0.5)
        a.fillUniform(&x, bound: 2)
        SeededRandom.skippingInitialValues {
            b.fillNormal(&y, scale: 0.5)
            b.fillUniform(&y, bound: 2)
        }
        #expect(y == [Float](repeating: 0, count: 10) && x != y)
        #expect(a.state == b.state)
        b.fillNormal(&y)   // outside the scope again: drawn
        #expect(y != [Float](repeating: 0, count: 10))
    }

    @Test("a network built without draws ends with the same generators as one built with them")
    func network() throws {
        var config = SegmenterConfig()
        config.characterDim = 4; config.bigramDim = 2; config.hiddenSize = 3
        let drawn = try SegmenterNetwork(config: config, characterCount: 20, bigramCount: 30)
        let skipped = try SeededRandom.skippingInitialValues {
            try SegmenterNetwork(config: config, characterCount: 20, bigramCount: 30)
        }
        #expect(drawn.dropoutRNG.state == skipped.dropoutRNG.state)
        #expect(drawn.recurrent.config == skipped.recurrent.config)
        #expect(skipped.characterEmbedding.weight.value.allSatisfy { $0 == 0 })
    }
}
