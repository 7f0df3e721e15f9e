// The supervisor's part in pod networking (src/stage1/oci/supervisor.sh reads stage1/sup/pod.env):
// with CNI networks, stage0 made ns-net, so the supervisor makes only the IPC and UTS namespaces,
// and its cleanup runs the teardown script before it unmounts ns-net.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TEARDOWN_SCRIPT } from '../../../src/net/pod.js';
import { podEnv, type SupervisorPod } from '../../../src/stage1/oci/engine.js';

const input = (cniNetworks: boolean): SupervisorPod => ({
  R: '/d/pods/run/u',
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
  cgroupParent: 'rkt-u',
  cniNetworks,
  // What stage0's pipeline passes in the run configuration with CNI networks.
  ...(cniNetworks ? { cniTeardown: TEARDOWN_SCRIPT } : {}),
  io: { relayApps: [], listenCount: 0, notify: () => false, listen: () => ({ args: '', redirects: '' }) },
  mutable: false,
});

describe('supervisor settings with CNI networks', () => {
  it('leaves ns-net to stage0 and names the teardown script', () => {
    const env = podEnv(input(true));
    assert.doesNotMatch(env, /--net=/);
    assert.match(env, /^NS_CREATE=.*unshare --ipc=\/d\/pods\/run\/u\/ns-ipc --uts=/m);
    assert.match(env, /^CNI=1$/m);
    assert.match(env, /^CNI_TEARDOWN=net\/teardown\.sh$/m);
    // The cleanup unmounts and removes every namespace file, ns-net included (after the teardown).
    assert.match(env, /^NS_FILES='ns-net ns-ipc ns-uts'$/m);
  });

  it('makes ns-net itself with --net=none, and has no teardown', () => {
    const env = podEnv(input(false));
    assert.match(env, /unshare --net=\/d\/pods\/run\/u\/ns-net --ipc=/);
    assert.match(env, /^CNI=''$/m);
  });
});
