// The exec plan's part in pod networking: with CNI networks, stage0 made ns-net, so the plan
// makes only the IPC and UTS namespaces, and its cleanup runs the teardown script before it
// unmounts ns-net.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planScript } from '../../../src/stage1/oci/engine.js';

type PlanInput = Parameters<typeof planScript>[0];

const input = (cniNetworks: boolean): PlanInput => ({
  P: '/d/pods/prepared/u',
  R: '/d/pods/run/u',
  uuid: 'u',
  rt: {
    name: 'crun',
    path: '/usr/bin/crun',
    hybridWrapper: false,
    prefix: ['/usr/bin/crun'],
    describe: () => 'crun',
  },
  apps: [{ name: 'a', id: 'rkt-u-a', bundle: '/d/pods/run/u/apps/a', pre: [], post: [] }],
  ns: { network: '/d/pods/run/u/ns-net', ipc: '/d/pods/run/u/ns-ipc', uts: '/d/pods/run/u/ns-uts' },
  hostname: 'rkt-u',
  interactive: false,
  cgroupParent: 'rkt-u',
  cniNetworks,
});

describe('exec plan with CNI networks', () => {
  it('leaves ns-net to stage0 and tears the networks down before unmounting it', () => {
    const plan = planScript(input(true));
    assert.doesNotMatch(plan, /--net=/);
    assert.match(plan, /unshare --ipc=\/d\/pods\/run\/u\/ns-ipc --uts=/);
    const teardown = plan.indexOf('[ -f "$R/net/teardown.sh" ] && sh "$R/net/teardown.sh" "$R"');
    const umount = plan.indexOf('umount ', teardown);
    assert.ok(teardown > 0 && umount > teardown, plan);
    assert.match(plan.slice(umount), /^umount .*\/d\/pods\/run\/u\/ns-net/);
  });

  it('makes ns-net itself with --net=none, and has no teardown', () => {
    const plan = planScript(input(false));
    assert.match(plan, /unshare --net=\/d\/pods\/run\/u\/ns-net --ipc=/);
    assert.doesNotMatch(plan, /teardown\.sh/);
  });
});
