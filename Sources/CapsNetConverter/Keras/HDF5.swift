import CHDF5

/// What libhdf5 reported when a call failed, innermost cause first.
struct HDF5Error: Error {
    var message: String

    /// The messages on HDF5's error stack, which is then cleared.
    static func fromStack(_ context: String) -> HDF5Error {
        var messages: [String] = []
        withUnsafeMutablePointer(to: &messages) { pointer in
            _ = H5Ewalk2(
                capsnet_h5_error_stack(), H5E_WALK_UPWARD,
                { _, error, client in
                    guard let error, let client, let text = error.pointee.desc else { return 0 }
                    let message = String(cString: text)
                    let list = client.assumingMemoryBound(to: [String].self)
                    if !message.isEmpty && !list.pointee.contains(message) { list.pointee.append(message) }
                    return 0
                }, pointer)
        }
        H5Eclear2(capsnet_h5_error_stack())
        let causes = messages.prefix(2).joined(separator: "; ")
        return HDF5Error(message: causes.isEmpty ? context : "\(context): \(causes)")
    }
}

/// A read-only HDF5 file. Not thread-safe: Debian's libhdf5 is the serial build.
final class HDF5File {
    private let id: hid_t

    /// Opens the file at `path`.
    init(path: String) throws(HDF5Error) {
        H5Eset_auto2(capsnet_h5_error_stack(), nil, nil)
        id = H5Fopen(path, capsnet_h5_read_only(), capsnet_h5_default())
        guard id >= 0 else { throw HDF5Error.fromStack("cannot open the HDF5 file") }
    }

    /// Opens an HDF5 file held in memory (libhdf5 takes its own copy).
    init(image: [UInt8], name: String) throws(HDF5Error) {
        H5Eset_auto2(capsnet_h5_error_stack(), nil, nil)
        var image = image
        let access = image.withUnsafeMutableBytes { capsnet_h5_memory_file_access($0.baseAddress, $0.count) }
        guard access >= 0 else { throw HDF5Error.fromStack("cannot read \(name) from memory") }
        defer { H5Pclose(access) }
        id = H5Fopen(name, capsnet_h5_read_only(), access)
        guard id >= 0 else { throw HDF5Error.fromStack("cannot open \(name)") }
    }

    deinit { H5Fclose(id) }

    /// The root group; it keeps the file open.
    var root: HDF5Object { HDF5Object(file: self, id: H5Oopen(id, "/", capsnet_h5_default()), path: "/") }
}

/// An open group or dataset.
final class HDF5Object {
    private let file: HDF5File
    private let id: hid_t
    /// The object's path in the file, for messages.
    let path: String

    fileprivate init(file: HDF5File, id: hid_t, path: String) {
        self.file = file
        self.id = id
        self.path = path
    }

    deinit { if id >= 0 { H5Oclose(id) } }

    var isGroup: Bool { H5Iget_type(id) == H5I_GROUP }
    var isDataset: Bool { H5Iget_type(id) == H5I_DATASET }

    /// The member at `relativePath` (components separated by `/`), or nil if there is none.
    func member(_ relativePath: String) -> HDF5Object? {
        var current = self
        for component in relativePath.split(separator: "/").map(String.init) {
            guard current.isGroup, H5Lexists(current.id, component, capsnet_h5_default()) > 0 else { return nil }
            let child = H5Oopen(current.id, component, capsnet_h5_default())
            guard child >= 0 else {
                H5Eclear2(capsnet_h5_error_stack())
                return nil
            }
            current = HDF5Object(
                file: file, id: child, path: current.path == "/" ? "/\(component)" : "\(current.path)/\(component)")
        }
        return current
    }

    /// The names of a group's members, in name order.
    func memberNames() throws(HDF5Error) -> [String] {
        var info = H5G_info_t()
        guard isGroup, H5Gget_info(id, &info) >= 0 else { throw HDF5Error.fromStack("cannot list \(path)") }
        var names: [String] = []
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, capsnet_h5_default())
            guard length >= 0 else { throw HDF5Error.fromStack("cannot list \(path)") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            _ = H5Lget_name_by_idx(
                id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, capsnet_h5_default())
            names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    /// A string attribute, or the strings of a string-array attribute; an empty array of any type
    /// (Keras writes empty name lists as float64) reads as no strings.
    func strings(attribute name: String) throws(HDF5Error) -> [String] {
        let attribute = H5Aopen(id, name, capsnet_h5_default())
        guard attribute >= 0 else { throw HDF5Error.fromStack("cannot open attribute '\(name)' of \(path)") }
        defer { H5Aclose(attribute) }
        let space = H5Aget_space(attribute)
        defer { H5Sclose(space) }
        let fileType = H5Aget_type(attribute)
        defer { H5Tclose(fileType) }
        let count = Int(H5Sget_simple_extent_npoints(space))
        if count == 0 { return [] }
        guard H5Tget_class(fileType) == H5T_STRING else {
            throw HDF5Error(message: "attribute '\(name)' of \(path) is not a string")
        }
        let memoryType = H5Tcopy(capsnet_h5_string_type())
        defer { H5Tclose(memoryType) }
        H5Tset_cset(memoryType, H5Tget_cset(fileType))

        if H5Tis_variable_str(fileType) > 0 {
            H5Tset_size(memoryType, capsnet_h5_variable_size())
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attribute, memoryType, &pointers) >= 0 else {
                throw HDF5Error.fromStack("cannot read attribute '\(name)' of \(path)")
            }
            defer { for pointer in pointers { H5free_memory(pointer) } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(fileType)
        H5Tset_size(memoryType, size)
        var bytes = [UInt8](repeating: 0, count: count * size)
        guard H5Aread(attribute, memoryType, &bytes) >= 0 else {
            throw HDF5Error.fromStack("cannot read attribute '\(name)' of \(path)")
        }
        return (0..<count).map { item in
            let field = bytes[item * size..<(item + 1) * size]
            return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A numeric dataset's shape and its values converted to float32.
    func floats() throws(HDF5Error) -> (shape: [Int], values: [Float]) {
        guard isDataset else { throw HDF5Error(message: "\(path) is not a dataset") }
        let type = H5Dget_type(id)
        defer { H5Tclose(type) }
        guard [H5T_FLOAT, H5T_INTEGER].contains(H5Tget_class(type)) else {
            throw HDF5Error(message: "\(path) does not hold numbers")
        }
        let space = H5Dget_space(id)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { throw HDF5Error.fromStack("cannot read the shape of \(path)") }
        var dimensions = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dimensions, nil)
        let shape = dimensions.map { Int(clamping: $0) }
        // A dataset may declare any extent and store nothing (HDF5 fills it in): bound it first.
        guard let count = shape.contains(0) ? 0 : ResourceLimits.product(shape, limit: ResourceLimits.tensorValues) else {
            throw HDF5Error(message: "\(path) declares the shape \(shape), more than the \(ResourceLimits.tensorValues) values of a weight this tool reads")
        }
        var values = [Float](repeating: 0, count: count)
        let status = values.withUnsafeMutableBytes {
            H5Dread(
                id, capsnet_h5_native_float(), capsnet_h5_all(), capsnet_h5_all(), capsnet_h5_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw HDF5Error.fromStack("cannot read \(path)") }
        return (shape, values)
    }
}
