/**
 * The device tree, as PyRogue has it: {@link Root}, {@link Device}, variables
 * ({@link LocalVariable}, {@link RemoteVariable}, {@link LinkVariable}), commands
 * ({@link LocalCommand}, {@link RemoteCommand}), processes, memory ({@link Emulate}, {@link Hub}),
 * YAML trees and configuration files. Knows nothing of EPICS.
 * @module pvtree/tree
 */

export { Node, NodeError, BUILTIN_GROUP, type NodeOptions, type GroupSpec } from './node.ts';
export {
  Device, DeviceDisabledError, type DeviceOptions, type NodeArrayOptions, type RemoteVariableArrayOptions,
} from './device.ts';
export { Root, type RootOptions, type Protocol } from './root.ts';
export { EnableVariable, type EnableState } from './enable-variable.ts';
export { Process, type ProcessOptions, type ProcessFunctionArgs } from './process.ts';
export { LoadConfigProcess, SaveConfigProcess } from './config-process.ts';
export { PVTREE_VERSION, localTimeString } from './root-builtins.ts';
export { SystemLogBuffer, type LogEntry, type LogLevel } from './system-log.ts';
export { ConfigPathError, resolveInside } from './config-files.ts';
export { splitArrayKey, selectIndices } from './node-match.ts';
export {
  BaseVariable, BaseVariable as Variable,
  type VariableOptions, type VariableValue, type VariableListener, type SetOptions, type GetOptions, type EnumMap,
} from './variable.ts';
export { LocalVariable, type LocalVariableOptions, type LocalSetArgs, type LocalGetArgs } from './local-variable.ts';
export { RemoteVariable, type RemoteVariableOptions, type BigEndianBase } from './remote-variable.ts';
export { LinkVariable, type LinkVariableOptions, type LinkedGetArgs, type LinkedSetArgs } from './link-variable.ts';
export {
  BaseCommand, LocalCommand, RemoteCommand,
  type CommandArgs, type CommandOptions, type LocalCommandOptions, type RemoteCommandOptions, type RemoteCommandFunction,
} from './command.ts';
export { Block, BlockError } from './block.ts';
export { Field, type FieldLayout } from './field.ts';
export { type Memory, type Transaction, type TransactionType, MemoryError, LinkDownError } from './memory/interface.ts';
export { SrpV3Memory, type SrpV3MemoryOptions, parseSrpV3Url, SRPV3_DEFAULT_PORT } from './memory/srpv3.ts';
export { MemoryRegistry, memoryFromSpec } from './memory/spec.ts';
export { MemoryLinks, describeMemory } from './memory/link-watch.ts';
export { Emulate, type EmulateOptions } from './memory/emulate.ts';
export { Hub, type HubOptions } from './memory/hub.ts';
export {
  type Mode, type Base, type NativeKind, type NativeType, type TypeInfo, type Value, type ScalarValue, type ArrayValue,
  type NumericArray, type AlarmStatus, type AlarmSeverity, type ValueInput, type Stored,
  VariableError, parseTypeStr, inferTypeStr, makeTypeStr,
} from './types.ts';
export { formatScalar, formatValue, pyFloat } from './format.ts';
export { type GetYamlOptions, type SetYamlOptions, type ConfigLoadResult, ConfigError } from './yaml-config.ts';
export { loadTreeFromYaml, loadTreeFromFile, TreeYamlError } from './yaml-tree.ts';
