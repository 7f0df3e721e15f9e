import { InvalidArgumentError } from 'commander';

/**
 * rkt's OptionList flag value (`--fields`, `--sort`): a comma-separated, case-insensitive list of
 * permitted names without repeats; an empty value is an empty list.
 */
export function parseOptionList(value: string, permitted: readonly string[]): string[] {
  if (value === '') return [];
  const out: string[] = [];
  for (const option of value.toLowerCase().split(',')) {
    if (!permitted.includes(option))
      throw new InvalidArgumentError(`unknown option ${JSON.stringify(option)}`);
    if (out.includes(option)) throw new InvalidArgumentError(`duplicated option ${JSON.stringify(option)}`);
    out.push(option);
  }
  return out;
}

/** A commander argument parser for an OptionList flag. */
export function optionListParser(permitted: readonly string[]): (value: string) => string[] {
  return (value) => parseOptionList(value, permitted);
}

/** Go's strconv.ParseBool, which pflag uses for `--flag=value` on boolean flags. */
export function parseGoBool(value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new InvalidArgumentError(`strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
}
