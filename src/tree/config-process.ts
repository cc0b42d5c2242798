// PyRogue's LoadConfigProcess and SaveConfigProcess: the built-in configuration commands as
// Processes, so an operator starts a long load from EPICS and watches Progress and Message.
// File names resolve inside the Root's config directory, like the commands' arguments.

import { Process, type ProcessOptions } from './process.ts';
import { LocalVariable } from './local-variable.ts';

/**
 * A process that loads configuration files into the tree (PyRogue's LoadConfig process): file
 * list, load mode, progress.
 */
export class LoadConfigProcess extends Process {
  readonly loadMode: LocalVariable<number>;
  readonly configFile: LocalVariable<string>;
  readonly yamlString: LocalVariable<string>;

  constructor(opts: ProcessOptions = { name: 'LoadConfigProcess' }) {
    super(opts);
    this.loadMode = new LocalVariable({
      name: 'LoadMode', mode: 'RW', value: 0, enum: { 0: 'File', 1: 'String' },
      description: 'Source of configuration data: File reads from ConfigFile; String applies YamlString.',
    });
    this.configFile = new LocalVariable({ name: 'ConfigFile', mode: 'RW', value: '', description: 'Path to YAML configuration file. Used when LoadMode is File.' });
    this.yamlString = new LocalVariable({ name: 'YamlString', mode: 'RW', value: '', description: 'YAML configuration text to apply. Used when LoadMode is String.' });
    this.add(this.loadMode, this.configFile, this.yamlString);
  }

  /** Loads are not interruptible: Stop is ignored (as PyRogue). */
  override async stopProcess(): Promise<void> {
    this.root?._log('warning', `${this.name}: Stop is not supported; operation will run to completion.`, this.path);
  }

  protected override async _process(): Promise<void> {
    const root = this.root;
    await this.message.set('Running', { force: true });
    await this.setProgress(0);
    try {
      if (!root) throw new Error('not attached to a Root');
      let r: { notFound: string[] };
      if (this.loadMode.value === 0) {
        const cfg = this.configFile.value.trim();
        if (!cfg) throw new Error('ConfigFile is empty');
        const files = root.configLoadList(cfg);
        await this.setTotalSteps(files.length);
        r = await root.loadConfig(files);
      } else {
        const yml = this.yamlString.value;
        if (!yml.trim()) throw new Error('YamlString is empty');
        r = await root.setYaml(yml);
      }
      void r; // keys not found are in the SystemLog
      await this.message.set('Done', { force: true });
      await this.setProgress(1);
    } catch (e) {
      await this.message.set(`Error: ${(e as Error).message}`, { force: true });
      await this.setProgress(1);
    }
  }
}

/**
 * A process that saves the tree's configuration or state to a file (PyRogue's SaveConfig process).
 */
export class SaveConfigProcess extends Process {
  readonly dataType: LocalVariable<number>;
  readonly saveMode: LocalVariable<number>;
  readonly configFile: LocalVariable<string>;
  readonly yamlString: LocalVariable<string>;

  constructor(opts: ProcessOptions = { name: 'SaveConfigProcess' }) {
    super(opts);
    this.dataType = new LocalVariable({
      name: 'DataType', mode: 'RW', value: 0, enum: { 0: 'Config', 1: 'Status' },
      description: 'Variable set to include: Config uses RW/WO modes excluding NoConfig; Status uses RW/RO/WO modes excluding NoState.',
    });
    this.saveMode = new LocalVariable({
      name: 'SaveMode', mode: 'RW', value: 0, enum: { 0: 'File', 1: 'String' },
      description: 'Output destination: File writes to ConfigFile; String stores the result in YamlString.',
    });
    this.configFile = new LocalVariable({
      name: 'ConfigFile', mode: 'RW', value: '',
      description: 'Output file path. Used when SaveMode is File. Auto-named with a timestamp prefix if empty.',
    });
    this.yamlString = new LocalVariable({ name: 'YamlString', mode: 'RO', value: '', description: 'Captured YAML output. Populated when SaveMode is String.' });
    this.add(this.dataType, this.saveMode, this.configFile, this.yamlString);
  }

  /** Saves are not interruptible: Stop is ignored (as PyRogue). */
  override async stopProcess(): Promise<void> {
    this.root?._log('warning', `${this.name}: Stop is not supported; operation will run to completion.`, this.path);
  }

  protected override async _process(): Promise<void> {
    const root = this.root;
    await this.message.set('Running', { force: true });
    await this.setProgress(0);
    try {
      if (!root) throw new Error('not attached to a Root');
      const state = this.dataType.value !== 0;
      if (this.saveMode.value === 0) {
        await root.saveYamlFile(this.configFile.value.trim(), state ? 'state' : 'config');
        await this.message.set('Done', { force: true });
      } else {
        const yml = state ? await root.getYamlState(true) : await root.getYamlConfig(true);
        await this.yamlString.set(yml, { force: true });
        await this.message.set('Done', { force: true });
      }
      await this.setProgress(1);
    } catch (e) {
      await this.message.set(`Error: ${(e as Error).message}`, { force: true });
      await this.setProgress(1);
    }
  }
}
