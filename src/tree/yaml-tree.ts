export class TreeYamlError extends Error {}
export function loadTreeFromYaml(): void {}
export function loadTreeFromFile(): void {}
