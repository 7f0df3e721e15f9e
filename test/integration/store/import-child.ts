/**
 * Child process for the multi-process store tests: `import-child <dataDir> <aci> [--slow]` imports
 * the ACI into the store and prints the result as JSON. With --slow the file is fed in 256 KiB
 * chunks, 10 ms apart, so a test can kill the import half-way. Without arguments it does nothing
 * (a test runner that treats every file under test/ as a test may run it so).
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Store } from '../../../src/store/index.js';

async function* slowly(path: string): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
    yield chunk as Buffer;
    await sleep(10);
  }
}

async function main(args: string[]): Promise<void> {
  const [dataDir, aci, flag] = args;
  if (dataDir === undefined || aci === undefined) return;
  const store = Store.open(dataDir);
  try {
    const source = flag === '--slow' ? Readable.from(slowly(aci)) : aci;
    const res = await store.importImage(source);
    process.stdout.write(JSON.stringify({ key: res.key, alreadyPresent: res.alreadyPresent }) + '\n');
  } finally {
    store.close();
  }
}

await main(process.argv.slice(2));
