import Testing
@testable import LSTMKit

/// Issue 17, item 10: lines as a user means them.
@Suite("Text lines")
struct TextLineTests {
    @Test("crlf_lines: \\r\\n and \\n end lines alike; a final break adds no empty line; \"\" has none")
    func lines() {
        #expect(Corpus.lines(of: "我爱北京\r\n天安门\r\n") == ["我爱北京", "天安门"])
        #expect(Corpus.lines(of: "a\nb\r\n\r\nc") == ["a", "b", "", "c"])
        #expect(Corpus.lines(of: "a\r") == ["a"])
        #expect(Corpus.lines(of: "a\n\n") == ["a", ""])
        #expect(Corpus.lines(of: "").isEmpty && Corpus.lines(of: "\n") == [""])
    }
}
