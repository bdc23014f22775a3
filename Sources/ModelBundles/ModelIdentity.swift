import Crypto

/// A model's name plus a short hash of its content: `install-v1@3f2a9c1e`.
///
/// Two bundles with the same card name but a different model or feature spec get different
/// identities, so a prediction, a metric series or a log line never attributes one model's output
/// to another. The hash is the first 8 hex digits of SHA-256 over `model.json` (or `model.txt`) followed by
/// `features.json`, byte for byte: `cat model.json features.json | sha256sum | cut -c1-8`
/// reproduces it.
public struct ModelIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The card's name (or the bundle folder's).
    public let name: String
    /// 8 lower-case hex digits of the content hash.
    public let hash: String

    public var description: String { "\(name)@\(hash)" }

    /// The identity of a model called `name` made of these files' bytes, in order.
    public init(name: String, contents: [[UInt8]]) {
        var hasher = SHA256()
        for bytes in contents { hasher.update(data: bytes) }
        let digest = hasher.finalize()
        self.name = name
        self.hash = digest.prefix(4).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
    }
}
