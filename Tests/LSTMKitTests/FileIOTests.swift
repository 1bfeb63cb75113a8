import Testing
@testable import LSTMKit
import Foundation

@Suite("Atomic writes")
struct FileIOTests {
    func mode(_ path: String) -> mode_t {
        var info = stat()
        _ = stat(path, &info)
        return info.st_mode & 0o7777
    }

    @Test("saving over a private file keeps it private (issue 17: 0600 became 0644)")
    func keepsMode() throws {
        let path = temporaryPath("private.bin")
        defer { unlink(path) }
        try FileIO.writeAtomically([1, 2, 3], to: path)
        #expect(chmod(path, 0o600) == 0)
        try FileIO.writeAtomically([4, 5], to: path)
        #expect(mode(path) == 0o600)
        #expect(try FileIO.read(path) == [4, 5])
    }

    @Test("saving through a symbolic link replaces its target and keeps the link (issue 17)")
    func writesThroughLinks() throws {
        let target = temporaryPath("target.bin"), link = temporaryPath("link.bin"), link2 = temporaryPath("link2.bin")
        defer { unlink(target); unlink(link); unlink(link2) }
        try FileIO.writeAtomically([1], to: target)
        #expect(symlink(target, link) == 0)
        #expect(symlink(link, link2) == 0)  // a chain of links
        try FileIO.writeAtomically([7, 8], to: link2)
        var info = stat()
        #expect(lstat(link, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK)
        #expect(lstat(link2, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK)
        #expect(try FileIO.read(target) == [7, 8])
        // A relative link, resolved against its own directory.
        let relative = temporaryPath("relative.bin")
        defer { unlink(relative) }
        #expect(symlink(String(target.split(separator: "/").last!), relative) == 0)
        try FileIO.writeAtomically([9], to: relative)
        #expect(try FileIO.read(target) == [9])
    }

    @Test("saving to a symbolic link loop is an I/O error and the link stays (it was replaced by the file)")
    func symlinkLoopKeepsTheLink() throws {
        let a = temporaryPath("loop-a.bin"), b = temporaryPath("loop-b.bin")
        defer { unlink(a); unlink(b) }
        #expect(symlink(b, a) == 0 && symlink(a, b) == 0)
        #expect { try FileIO.writeAtomically([1], to: a) } throws: {
            ($0 as? LSTMKitError).map { if case .io(let m) = $0 { m.contains("too many levels of symbolic links") } else { false } } ?? false
        }
        var info = stat()
        #expect(lstat(a, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK)
    }

    @Test("saving over a device, FIFO or directory is an I/O error and leaves it (a device node was replaced by the file)")
    func nonRegularTargetsAreRefused() throws {
        let fifo = temporaryPath("fifo"), dir = temporaryPath("dir")
        defer { unlink(fifo); rmdir(dir) }
        #expect(mkfifo(fifo, 0o600) == 0 && mkdir(dir, 0o700) == 0)
        for (path, kind) in [(fifo, "not a regular file"), (dir, "a directory")] {
            #expect { try FileIO.writeAtomically([1], to: path) } throws: {
                ($0 as? LSTMKitError).map { if case .io(let m) = $0 { m.contains(kind) } else { false } } ?? false
            }
        }
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO)
    }
}
