import CZlib

/// Reads the next chunk of a gzip (or plain) file into the whole of `buffer`.
///
/// Shared by `EventLineReader` and `TestDataReader`, which keep their own positions and errors.
/// - Returns: the byte count (0 at the end of the file), or zlib's one-line reason for a read error.
func readGzipChunk(_ file: gzFile, into buffer: inout [UInt8]) -> Result<Int, GzipReadFailure> {
    let count = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
    guard count >= 0 else {
        var code: Int32 = 0
        return .failure(GzipReadFailure(message: gzerror(file, &code).map { String(cString: $0) } ?? "unknown error"))
    }
    return .success(Int(count))
}

/// zlib's description of a failed read.
struct GzipReadFailure: Error {
    let message: String
}
