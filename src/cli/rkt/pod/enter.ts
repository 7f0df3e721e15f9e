import { Command } from 'commander';
import { RKT_FAILURE, RocketError, unknownFlagMessage } from '../../../errors.js';
import { action } from '../../run.js';
import { rktGlobals } from '../globals.js';
import { rawArgsAfterVerb } from './common.js';

/** `rkt enter [--app=NAME] UUID [CMD [ARGS...]]`: flags end at the UUID (CMD may have its own). */
export function parseEnterArgs(raw: readonly string[]): { app?: string; uuid: string; command: string[] } {
  let app: string | undefined;
  let i = 0;
  for (; i < raw.length; i++) {
    const a = raw[i] as string;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--app=')) app = a.slice('--app='.length);
    else if (a === '--app') app = raw[++i];
    else if (a.startsWith('-') && a !== '-') throw new RocketError(unknownFlagMessage(a), RKT_FAILURE);
    else break;
  }
  const uuid = raw[i];
  if (uuid === undefined) throw new RocketError('must provide the pod UUID', RKT_FAILURE);
  let command = raw.slice(i + 1);
  if (command[0] === '--') command = command.slice(1);
  return { ...(app !== undefined ? { app } : {}), uuid, command };
}

export function enterCommand(): Command {
  return new Command('enter')
    .description('Enter the namespaces of an app within a rkt pod')
    .usage('[--app=APPNAME] UUID [CMD [ARGS ...]]')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      action('enter', async (_args: string[], _flags: unknown, cmd: Command) => {
        const { getPod } = await import('../../../pod/index.js');
        const { loadEngineForPod } = await import('../../../stage1/engines.js');
        const { handOff } = await import('../../../stage1/engine.js');
        const e = parseEnterArgs(rawArgsAfterVerb('enter'));
        const pod = getPod(rktGlobals(cmd).dir, e.uuid);
        if (pod.state !== 'running') throw new RocketError(`pod ${pod.uuid} is not running`, RKT_FAILURE);
        const plan = (await loadEngineForPod(pod)).enter({
          pod,
          command: e.command,
          ...(e.app !== undefined ? { app: e.app } : {}),
        });
        return handOff(plan);
      }),
    );
}
