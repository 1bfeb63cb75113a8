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

    @Test("checkpoints resume where training stopped")
    func resume() throws {
        var config = SegmenterConfig()
        config.characterDim = 8; config.bigramDim = 4; config.hiddenSize = 8
        var options = TokenizerTrainingOptions()
        options.epochs = 1; options.maxBatchesPerEpoch = 5; options.threads = 1; options.minBigramCount = 1
        let train = try Corpus.readSegmented(fixtureDirectory + "/train.txt")
        let dev = try Corpus.readSegmented(fixtureDirectory + "/dev.txt")
        let path = temporaryPath("ckpt.safetensors")
        defer { unlink(path) }
        let first = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        try first.run(checkpointPath: path, bestPath: nil) { _ in }
        options.epochs = 2
        let second = try TokenizerTrainer(train: train, dev: dev, config: config, options: options)
        try second.resume(from: path)
        #expect(second.epoch == 1 && second.bestF1 == first.bestF1)
        for (a, b) in zip(first.tokenizer.network.parameters, second.tokenizer.network.parameters) {
            #expect(a.value == b.value)
        }
        var lines: [String] = []
        try second.run(checkpointPath: path, bestPath: nil) { lines.append($0) }
        #expect(second.epoch == 2)
        #expect(lines.contains { $0.hasPrefix("epoch 2 done") })
        #expect(!lines.contains { $0.hasPrefix("epoch 1 ") })
    }

    @Test("tags: one BMES tag per character")
    func tags() {
        let text = "我们在北京 工作"
        let tags = fixtureTokenizer.tag(text)
        #expect(tags.count == text.count)
        #expect(tags.allSatisfy { ["B", "M", "E", "S"].contains($0) })
        #expect(BMES.wordLengths(tags: tags.map { Int32(BMES.names.firstIndex(of: $0)!) }).reduce(0, +) == text.count)
        #expect(fixtureTokenizer.tag("我  们")[1...2] == ["S", "S"])  // whitespace: one S per character
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
