/// A ``FeatureSpec`` compiled for the featurizer: field lookup tables, vocabularies as byte-string
/// hash tables, and one flat operation per column. Immutable and shared by every ``Featurizer``.
package final class FeaturePlan: Sendable {
    enum Operation: Sendable {
        case number(field: Int)
        case ratio(numerator: Int, denominator: Int)
        case daysBetween(from: Int, to: Int)
        case hourOfDay(field: Int)
        case dayOfWeek(field: Int)
        case versionMajor(field: Int)
        case stringCategory(field: Int, table: Int)
        case numberCategory(field: Int, table: Int)
    }

    package let spec: FeatureSpec
    /// Key bytes -> field index; `0..<fieldCount` are `spec.fields`, `fieldCount` is the id field.
    let fieldTable: ByteStringTable
    let fieldTypes: [ValueKind]
    let fieldCount: Int
    var idSlot: Int { fieldCount }
    /// Which fields are parsed as timestamps / numbers once per event.
    let timestampFields: [Int]
    let numberFields: [Int]
    let operations: [Operation]
    let stringVocabularies: [ByteStringTable]
    /// Number vocabularies keyed by the 8 bytes of the value (zero normalised to +0.0): a lookup
    /// hashes one word instead of running SipHash through `Dictionary<Double, _>`.
    let numberVocabularies: [ByteStringTable]

    package init(spec: FeatureSpec) {
        self.spec = spec
        let names = spec.fields.map(\.name)
        fieldCount = names.count
        fieldTable = ByteStringTable(keys: (names + [spec.idField]).map { Array($0.utf8) })
        fieldTypes = spec.fields.map { $0.type == .number ? ValueKind.number : ValueKind.string }
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var timestamps: Set<Int> = [index[spec.timestampField]!]
        var strings: [ByteStringTable] = []
        var numbers: [ByteStringTable] = []
        var operations: [Operation] = []
        for feature in spec.features {
            switch feature.transform {
            case .number(let f): operations.append(.number(field: index[f]!))
            case .ratio(let a, let b): operations.append(.ratio(numerator: index[a]!, denominator: index[b]!))
            case .daysBetween(let a, let b):
                timestamps.formUnion([index[a]!, index[b]!])
                operations.append(.daysBetween(from: index[a]!, to: index[b]!))
            case .hourOfDay(let f):
                timestamps.insert(index[f]!)
                operations.append(.hourOfDay(field: index[f]!))
            case .dayOfWeek(let f):
                timestamps.insert(index[f]!)
                operations.append(.dayOfWeek(field: index[f]!))
            case .versionMajor(let f): operations.append(.versionMajor(field: index[f]!))
            case .stringCategory(let f, let vocabulary):
                operations.append(.stringCategory(field: index[f]!, table: strings.count))
                strings.append(ByteStringTable(keys: vocabulary.map { Array($0.utf8) }))
            case .numberCategory(let f, let vocabulary):
                operations.append(.numberCategory(field: index[f]!, table: numbers.count))
                numbers.append(ByteStringTable(keys: vocabulary.map(numberKey)))
            }
        }
        timestampFields = timestamps.sorted()
        numberFields = spec.fields.indices.filter { spec.fields[$0].type == .number }
        self.operations = operations
        stringVocabularies = strings
        numberVocabularies = numbers
    }
}

/// The lookup key of a number category value: its bit pattern, with -0.0 folded into +0.0 (Python's
/// dict treats them as the same key).
func numberKey(_ value: Double) -> [UInt8] {
    withUnsafeBytes(of: (value == 0 ? 0.0 : value).bitPattern.littleEndian) { Array($0) }
}
