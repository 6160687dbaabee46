/**
 * A small typed builder for `haproxy.cfg` text.
 *
 * HAProxy's configuration is a list of sections (`global`, `defaults`, `resolvers`,
 * `frontend`, `backend`, `listen`), each a list of keyword lines
 * (https://docs.haproxy.org/2.6/configuration.html#2.1). The builder keeps that shape: a
 * `HaproxyConfig` holds `Section`s, a section holds directives, comments and blank lines,
 * and `render()` prints them with HAProxy's customary layout (section header at column 0,
 * body indented by four spaces, one blank line between sections).
 *
 * Arguments are validated instead of escaped: a token that HAProxy would split or treat as a
 * comment (whitespace, `#`, quotes, backslash) throws, so rendered output is never
 * ambiguous. Output is deterministic: same calls, same bytes.
 */

/** One argument of a directive; numbers are printed in decimal. */
export type Arg = string | number;

/** Section types of an HAProxy configuration file (HAProxy 2.6 manual, section 2.1 and 4). */
export type SectionType = 'global' | 'defaults' | 'resolvers' | 'frontend' | 'backend' | 'listen';

/** Raised for anything that would render an invalid or ambiguous configuration. */
export class HaproxyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HaproxyConfigError';
  }
}

type Line =
  | { readonly kind: 'directive'; readonly keyword: string; readonly args: readonly string[]; readonly comment?: string }
  | { readonly kind: 'comment'; readonly text: string }
  | { readonly kind: 'blank' };

/** Keywords are one or more lower-case words, e.g. `timeout connect`, `http-check expect`. */
const KEYWORD = /^[a-z][a-z0-9_.-]*( [a-z0-9_.-]+)*$/;
/** Proxy and resolvers names: letters, digits, `-`, `_`, `.` and `:` (HAProxy 2.6 manual, section 4). */
const SECTION_NAME = /^[A-Za-z0-9_.:-]+$/;
/** Characters HAProxy's tokenizer treats specially inside an unquoted word. */
const UNSAFE_ARG = /[\s#"'\\]/;

/**
 * Formats a duration for HAProxy's time format (https://docs.haproxy.org/2.6/configuration.html#2.5).
 * @param seconds non-negative number of seconds; whole seconds print as `5s`, others as milliseconds (`1500ms`)
 * @throws HaproxyConfigError for a negative or non-finite value, or fractions below 1 ms
 */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new HaproxyConfigError(`duration must be a non-negative number of seconds, got ${seconds}`);
  if (Number.isInteger(seconds)) return `${seconds}s`;
  const ms = seconds * 1000;
  if (!Number.isInteger(Math.round(ms * 1e6) / 1e6)) throw new HaproxyConfigError(`duration must be a whole number of milliseconds, got ${seconds}s`);
  return `${Math.round(ms)}ms`;
}

function checkArg(keyword: string, arg: Arg): string {
  if (typeof arg === 'number') {
    if (!Number.isFinite(arg)) throw new HaproxyConfigError(`${keyword}: argument must be a finite number, got ${arg}`);
    return String(arg);
  }
  if (arg === '') throw new HaproxyConfigError(`${keyword}: empty argument`);
  if (UNSAFE_ARG.test(arg)) {
    throw new HaproxyConfigError(`${keyword}: argument ${JSON.stringify(arg)} contains whitespace, "#", a quote or a backslash`);
  }
  return arg;
}

function checkComment(text: string): string {
  if (/[\r\n]/.test(text)) throw new HaproxyConfigError(`comment must be a single line: ${JSON.stringify(text)}`);
  return text.trimEnd();
}

/** One section: its header (`backend web`) and its lines. */
export class Section {
  private readonly lines: Line[] = [];

  /**
   * @param type section keyword
   * @param name proxy or resolvers name; required for every type except `global` (and optional for `defaults`)
   * @param description comment lines printed above the header
   * @throws HaproxyConfigError for a missing or malformed name
   */
  constructor(
    readonly type: SectionType,
    readonly name: string | undefined,
    private readonly description: readonly string[] = [],
  ) {
    if (type === 'global' && name !== undefined) throw new HaproxyConfigError('the global section takes no name');
    if (type !== 'global' && type !== 'defaults' && name === undefined) throw new HaproxyConfigError(`a ${type} section needs a name`);
    if (name !== undefined && !SECTION_NAME.test(name)) {
      throw new HaproxyConfigError(`${type} name ${JSON.stringify(name)} may only contain letters, digits, "-", "_", "." and ":"`);
    }
    description.forEach(checkComment);
  }

  /**
   * Appends `keyword arg...`, optionally preceded by a comment line.
   * @param keyword e.g. `balance`, `timeout connect`, `option httpchk`
   * @throws HaproxyConfigError for a malformed keyword or an argument HAProxy would split
   */
  line(keyword: string, args: readonly Arg[] = [], comment?: string): this {
    if (!KEYWORD.test(keyword)) throw new HaproxyConfigError(`malformed keyword ${JSON.stringify(keyword)}`);
    this.lines.push({ kind: 'directive', keyword, args: args.map((a) => checkArg(keyword, a)), comment: comment === undefined ? undefined : checkComment(comment) });
    return this;
  }

  /** Appends a `# text` comment line. */
  comment(text: string): this {
    this.lines.push({ kind: 'comment', text: checkComment(text) });
    return this;
  }

  /** Appends an empty line (groups related directives). */
  blank(): this {
    this.lines.push({ kind: 'blank' });
    return this;
  }

  /** Keywords of the directives in this section, in order (for tests and checks). */
  keywords(): string[] {
    return this.lines.flatMap((l) => (l.kind === 'directive' ? [l.keyword] : []));
  }

  /** Renders the section: description comments, header, indented body. */
  render(): string {
    const out = this.description.map((d) => (d === '' ? '#' : `# ${d}`));
    out.push(this.name === undefined ? this.type : `${this.type} ${this.name}`);
    for (const l of this.lines) {
      if (l.kind === 'blank') out.push('');
      else if (l.kind === 'comment') out.push(`    # ${l.text}`);
      else {
        if (l.comment !== undefined) out.push(`    # ${l.comment}`);
        out.push(`    ${[l.keyword, ...l.args].join(' ')}`);
      }
    }
    // No trailing blank lines inside a section.
    while (out[out.length - 1] === '') out.pop();
    return out.join('\n');
  }
}

/** A whole `haproxy.cfg`: a header comment and sections in the order they were added. */
export class HaproxyConfig {
  private readonly sections: Section[] = [];

  /** @param header comment lines at the top of the file (e.g. "generated by …, do not edit") */
  constructor(private readonly header: readonly string[] = []) {
    header.forEach(checkComment);
  }

  /**
   * Adds a section and returns it for chaining.
   * @throws HaproxyConfigError for a second `global` section or a duplicate proxy/resolvers name
   */
  section(type: SectionType, name?: string, description: readonly string[] = []): Section {
    const s = new Section(type, name, description);
    if (type === 'global' && this.sections.some((x) => x.type === 'global')) throw new HaproxyConfigError('only one global section is allowed');
    // Frontends, backends and listens share one namespace of proxy names.
    const proxy = (t: SectionType) => t === 'frontend' || t === 'backend' || t === 'listen';
    if (name !== undefined && this.sections.some((x) => x.name === name && (x.type === type || (proxy(x.type) && proxy(type))))) {
      throw new HaproxyConfigError(`duplicate section name ${JSON.stringify(name)}`);
    }
    this.sections.push(s);
    return s;
  }

  /** Sections in file order. */
  list(): readonly Section[] {
    return this.sections;
  }

  /** Finds a section by type and name. */
  find(type: SectionType, name?: string): Section | undefined {
    return this.sections.find((s) => s.type === type && s.name === name);
  }

  /** The file text, ending with a newline. */
  render(): string {
    const parts = this.header.map((h) => (h === '' ? '#' : `# ${h}`)).join('\n');
    const body = this.sections.map((s) => s.render()).join('\n\n');
    return `${parts ? `${parts}\n\n` : ''}${body}\n`;
  }
}
