// The operating-system groups of an account on the server's host, for `role/<group>` UAG entries
// (pvxs gives a pvAccess client of the "ca" method these roles). Read from /etc/passwd and
// /etc/group only: groups that come from LDAP / NSS modules are not seen.
import { readFileSync } from 'node:fs';

export interface GroupFiles {
  passwd: string;
  group: string;
}

function readFiles(): GroupFiles {
  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  return { passwd: read('/etc/passwd'), group: read('/etc/group') };
}

/** Account → its groups (primary and supplementary), from the text of passwd and group files. */
export class OsRoles {
  private readonly primary = new Map<string, string>();
  private readonly gidName = new Map<string, string>();
  private readonly members = new Map<string, string[]>();

  constructor(files: GroupFiles = readFiles()) {
    for (const line of files.group.split('\n')) {
      const f = line.split(':');
      if (f.length < 4 || line.startsWith('#')) continue;
      this.gidName.set(f[2], f[0]);
      for (const m of f[3].split(',').map((s) => s.trim()).filter(Boolean)) {
        const l = this.members.get(m) ?? [];
        l.push(f[0]);
        this.members.set(m, l);
      }
    }
    for (const line of files.passwd.split('\n')) {
      const f = line.split(':');
      if (f.length < 4 || line.startsWith('#')) continue;
      this.primary.set(f[0], f[3]);
    }
  }

  /** Group names of `account`; an unknown account has none. */
  rolesOf(account: string): string[] {
    const out = new Set<string>();
    const gid = this.primary.get(account);
    if (gid !== undefined) {
      const g = this.gidName.get(gid);
      if (g) out.add(g);
    }
    for (const g of this.members.get(account) ?? []) out.add(g);
    return [...out];
  }
}
