/**
 * Help, man pages and shell completion from one description of each command: its flags come from
 * commander's options for the verbs commander parses, and from the verb's own flag table (given with
 * `setFlagTable`) for the verbs that parse their raw command line (run, prepare, run-prepared,
 * enter, status). The help text follows the layout of rkt's cobra help.
 */
import type { Command, Option } from 'commander';

/** One flag as help, man pages and completion show it. */
export interface FlagDoc {
  /** Long name without dashes. */
  name: string;
  /** One-letter shorthand without the dash. */
  short?: string;
  /** What its value is (`string`, `dir`...); absent for a flag that takes none. */
  value?: string;
  /** The value may be left out (`--net`, `--wait`): a bare flag means `noOptValue`. */
  noOptValue?: string;
  description: string;
  /** The default as rkt shows it; absent or '' is not shown. */
  default?: string;
  hidden?: boolean;
}

/** A command as help, man pages and completion see it. */
export interface CommandDoc {
  /** The words that name it, the program first: ['rkt', 'image', 'list']. */
  path: string[];
  /** One line. */
  summary: string;
  /** Longer text (the summary when there is none). */
  description: string;
  /** What follows the command's path in its usage line. */
  usage: string;
  flags: FlagDoc[];
  /** Flags of the parents that apply here too. */
  inherited: FlagDoc[];
  subcommands: CommandDoc[];
}

const flagTables = new WeakMap<Command, readonly FlagDoc[] | (() => readonly FlagDoc[])>();

/**
 * Gives a verb that parses its own arguments the flag table its parser reads; a function is called
 * when the table is first needed (help, man pages, completion), not when the tree is made.
 */
export function setFlagTable(cmd: Command, flags: readonly FlagDoc[] | (() => readonly FlagDoc[])): Command {
  flagTables.set(cmd, typeof flags === 'function' ? flags : [...flags]);
  return cmd;
}

/** The help flag every command has. */
export function helpFlag(command: string): FlagDoc {
  return { name: 'help', short: 'h', description: `help for ${command}` };
}

function defaultText(v: unknown): string | undefined {
  if (v === undefined || v === false || v === '') return undefined;
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.join(',');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** A commander option as a flag. */
export function optionDoc(o: Option): FlagDoc | undefined {
  if (o.long === undefined) return undefined;
  const name = o.long.replace(/^--/, '');
  // A negated flag (`--no-legend`) is shown as declared, without commander's implied default (true).
  const value = /<([^>]+)>|\[([^\]]+)\]/.exec(o.flags);
  const doc: FlagDoc = { name, description: o.description };
  if (o.short !== undefined) doc.short = o.short.replace(/^-/, '');
  if (value !== null) doc.value = (value[1] ?? value[2] ?? 'string').replace(/\.\.\.$/, '');
  if (o.optional) doc.noOptValue = typeof o.presetArg === 'string' ? o.presetArg : 'true';
  const def = o.negate ? undefined : (o.defaultValueDescription ?? defaultText(o.defaultValue));
  if (def !== undefined) doc.default = def;
  if (o.hidden) doc.hidden = true;
  return doc;
}

/** The flags of one command (its own, not its parents'), the help flag last. */
export function commandFlags(cmd: Command): FlagDoc[] {
  let table = flagTables.get(cmd);
  if (typeof table === 'function') {
    table = [...table()];
    flagTables.set(cmd, table);
  }
  const own = table ?? cmd.options.flatMap((o) => optionDoc(o) ?? []);
  return [...own.filter((f) => f.name !== 'help'), helpFlag(cmd.name())];
}

function commandPath(cmd: Command): string[] {
  const out: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) out.unshift(c.name());
  return out;
}

function usageOf(cmd: Command): string {
  const u = cmd.usage();
  // commander's default usage: make it cobra's.
  if (u === '' || /^\[options\]( \[command\])?/.test(u)) {
    if (cmd.commands.length > 0) return '[command]';
    const args = cmd.registeredArguments.map((a) => {
      const n = a.name().toUpperCase() + (a.variadic ? '...' : '');
      return a.required ? n : `[${n}]`;
    });
    return ['[flags]', ...args].join(' ');
  }
  return u.replace(/\[options\]/g, '[flags]');
}

/** The description of a command tree. Hidden commands are left out. */
export function describe(cmd: Command, inherited: readonly FlagDoc[] = []): CommandDoc {
  const flags = commandFlags(cmd);
  const own = flags.filter((f) => f.name !== 'help');
  const summary = cmd.summary() !== '' ? cmd.summary() : (cmd.description().split('\n')[0] ?? '');
  return {
    path: commandPath(cmd),
    summary,
    description: cmd.description() !== '' ? cmd.description() : summary,
    usage: usageOf(cmd),
    flags,
    inherited: [...inherited],
    subcommands: cmd.commands
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => describe(c, [...inherited, ...own])),
  };
}

/** All commands of a tree, parents before their children. */
export function allCommands(doc: CommandDoc): CommandDoc[] {
  return [doc, ...doc.subcommands.flatMap(allCommands)];
}

/** The command named by `words` under `root`, and how many words named it. */
export function findCommand(root: CommandDoc, words: readonly string[]): { doc: CommandDoc; used: number } {
  let doc = root;
  let used = 0;
  for (const w of words) {
    const next = doc.subcommands.find((c) => c.path[c.path.length - 1] === w);
    if (next === undefined) break;
    doc = next;
    used++;
  }
  return { doc, used };
}

/** `-h, --help`, `--dir string`, `--net[=default]` as a flag's left column. */
export function flagSpelling(f: FlagDoc): string {
  const long =
    f.value === undefined
      ? `--${f.name}`
      : f.noOptValue !== undefined
        ? `--${f.name}[=${f.value}]`
        : `--${f.name} ${f.value}`;
  return f.short !== undefined ? `-${f.short}, ${long}` : `    ${long}`;
}

function flagDescription(f: FlagDoc): string {
  if (f.default === undefined || f.default === '') return f.description;
  const d = f.value === undefined || f.value === 'bool' ? f.default : JSON.stringify(f.default);
  return `${f.description} (default ${d})`;
}

function flagLines(flags: readonly FlagDoc[]): string {
  const shown = flags.filter((f) => f.hidden !== true);
  const width = Math.max(0, ...shown.map((f) => flagSpelling(f).length));
  return shown
    .map(
      (f) =>
        `  ${flagSpelling(f).padEnd(width)}   ${flagDescription(f).replace(/\n/g, '\n' + ' '.repeat(width + 5))}`,
    )
    .join('\n');
}

/** The help text of one command, as cobra laid it out. */
export function helpText(doc: CommandDoc): string {
  const name = doc.path.join(' ');
  const parts: string[] = [doc.description.trim(), '', 'Usage:', `  ${name} ${doc.usage}`.trimEnd()];
  if (doc.subcommands.length > 0) {
    const width = Math.max(...doc.subcommands.map((c) => (c.path[c.path.length - 1] ?? '').length));
    parts.push('', 'Available Commands:');
    for (const c of doc.subcommands)
      parts.push(`  ${(c.path[c.path.length - 1] ?? '').padEnd(width)}   ${c.summary}`);
  }
  parts.push('', 'Flags:', flagLines(doc.flags));
  if (doc.inherited.some((f) => f.hidden !== true)) parts.push('', 'Global Flags:', flagLines(doc.inherited));
  if (doc.subcommands.length > 0)
    parts.push('', `Use "${name} [command] --help" for more information about a command.`);
  return parts.join('\n') + '\n';
}

/** Text escaped for roff: backslashes, dashes, and a leading dot or quote. */
export function roffEscape(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? '\\&' + l : l))
    .join('\n');
}

function manName(doc: CommandDoc): string {
  return doc.path.join('-');
}

function manFlags(flags: readonly FlagDoc[]): string[] {
  const out: string[] = [];
  for (const f of flags) {
    if (f.hidden === true) continue;
    const value =
      f.value === undefined
        ? ''
        : f.noOptValue !== undefined
          ? `[=\\fI${f.value}\\fR]`
          : `=\\fI${roffEscape(f.value)}\\fR`;
    const short = f.short !== undefined ? `\\fB\\-${f.short}\\fR, ` : '';
    out.push('.TP', `${short}\\fB\\-\\-${roffEscape(f.name)}\\fR${value}`, roffEscape(flagDescription(f)));
  }
  return out;
}

/** The man page (section 1, roff) of one command. */
export function manPage(doc: CommandDoc, opts: { date: string; source: string; manual: string }): string {
  const name = manName(doc);
  const lines = [
    `.TH "${roffEscape(name.toUpperCase())}" "1" "${opts.date}" "${roffEscape(opts.source)}" "${roffEscape(opts.manual)}"`,
    '.nh',
    '.ad l',
    '.SH NAME',
    `${roffEscape(name)} \\- ${roffEscape(doc.summary)}`,
    '.SH SYNOPSIS',
    `\\fB${roffEscape(doc.path.join(' '))}\\fR ${roffEscape(doc.usage)}`,
    '.SH DESCRIPTION',
    ...doc.description
      .trim()
      .split(/\n\s*\n/)
      .flatMap((p, i) => (i === 0 ? [roffEscape(p)] : ['.PP', roffEscape(p)])),
    '.SH OPTIONS',
    ...manFlags(doc.flags),
  ];
  if (doc.inherited.some((f) => f.hidden !== true))
    lines.push('.SH OPTIONS INHERITED FROM PARENT COMMANDS', ...manFlags(doc.inherited));
  if (doc.subcommands.length > 0) {
    lines.push('.SH COMMANDS');
    for (const c of doc.subcommands)
      lines.push('.TP', `\\fB${roffEscape(manName(c))}\\fR(1)`, roffEscape(c.summary));
  }
  const parent = doc.path.length > 1 ? [doc.path.slice(0, -1).join('-')] : [];
  const seeAlso = [...parent, ...doc.subcommands.map(manName)];
  if (seeAlso.length > 0)
    lines.push('.SH SEE ALSO', seeAlso.map((n) => `\\fB${roffEscape(n)}\\fR(1)`).join(', '));
  return lines.join('\n') + '\n';
}

/** Every man page of a command tree: file name (`rkt-image-list.1`) to text. */
export function manPages(
  root: CommandDoc,
  opts: { date: string; source: string; manual: string },
): Map<string, string> {
  return new Map(allCommands(root).map((d) => [`${manName(d)}.1`, manPage(d, opts)]));
}

/** The help text of a command of a commander tree (its parents' flags as global flags). */
export function helpFor(cmd: Command): string {
  let root = cmd;
  while (root.parent !== null) root = root.parent;
  return helpText(findCommand(describe(root), commandPath(cmd).slice(1)).doc);
}

/** rkt's verbs whose flags end at their first argument (what follows belongs to the app's command). */
const FLAGS_END_AT_ARGUMENT = new Set(['enter']);

/**
 * What a command line asks help for, as rkt's cobra answered: `rkt help [CMD...]`, or `-h`/`--help`
 * among a command's flags (not after `--`). undefined when it asks for none; `unknown` names a
 * `rkt help` topic that is no command.
 */
export function helpRequest(
  argv: readonly string[],
  root: CommandDoc,
): { doc: CommandDoc; unknown?: string } | undefined {
  const valueFlags = new Set(
    root.flags.filter((f) => f.value !== undefined && f.noOptValue === undefined).map((f) => `--${f.name}`),
  );
  const globalFlags = new Set(root.flags.map((f) => `--${f.name}`));
  const words: string[] = [];
  let unknownFlag = false;
  let i = 0;
  // The command's words, with rkt's global flags before or among them.
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (a === '-h' || a === '--help') return { doc: findCommand(root, words).doc };
      if (valueFlags.has(a)) i++;
      // (Go's single-dash spelling of a global flag is taken too, as the parser takes it.)
      else if (!globalFlags.has(a.replace(/=.*$/s, '').replace(/^-(?=[a-zA-Z][a-zA-Z0-9-]+$)/, '--')))
        unknownFlag = true;
      continue;
    }
    const found = findCommand(root, words.length === 0 && a === 'help' ? [] : [...words, a]);
    if (words.length === 0 && a === 'help') {
      const topic = argv.slice(i + 1).filter((w) => !w.startsWith('-'));
      const t = findCommand(root, topic);
      return t.used === topic.length ? { doc: t.doc } : { doc: root, unknown: topic.join(' ') };
    }
    if (found.used !== words.length + 1) break;
    words.push(a);
  }
  const doc = findCommand(root, words).doc;
  const verb = words[words.length - 1] ?? '';
  // A flag the group does not know is cobra's flag error, not its help (`rkt image -z`).
  let positional = unknownFlag;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    if (a === '-h' || a === '--help') return { doc };
    if (!a.startsWith('-')) positional = true;
    if (FLAGS_END_AT_ARGUMENT.has(verb) && !a.startsWith('-') && argv[i - 1] !== '--app') break;
  }
  // A command that only groups others (`rkt image`), given none: its help, as cobra did.
  if (words.length > 0 && doc.subcommands.length > 0 && !positional) return { doc };
  return undefined;
}
