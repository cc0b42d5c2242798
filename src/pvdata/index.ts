/**
 * pvData: type descriptions ({@link Structure}, {@link struct}), values ({@link PVStructure}),
 * the wire codec, the normative types (NTScalar, NTEnum, NTTable …) and pvRequest parsing.
 * @module pvtree/pvdata
 */
export * from './bitset.ts';
export * from './buffer.ts';
export * from './types.ts';
export * from './value.ts';
export * from './codec.ts';
export * from './nt.ts';
export * from './request.ts';
