// pvData: types, values, wire codec, normative types and pvRequest.
export * from './bitset.ts';
export * from './buffer.ts';
export * from './types.ts';
export * from './value.ts';
export * from './codec.ts';
export * from './nt.ts';
export * from './request.ts';
