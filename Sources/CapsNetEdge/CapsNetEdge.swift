// SPDX-License-Identifier: Apache-2.0
// The umbrella module: `import CapsNetEdge` brings the runtime and the converter.
@_exported import CapsNetConverter
@_exported import CapsNetRuntime
