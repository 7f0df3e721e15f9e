import { Command } from 'commander';
import { imageCatManifestCommand } from './image/cat-manifest.js';
import { imageExportCommand } from './image/export.js';
import { imageExtractCommand, imageRenderCommand } from './image/extract.js';
import { imageGcCommand } from './image/gc.js';
import { imageListCommand } from './image/list.js';
import { imageRmCommand } from './image/rm.js';
import { imageVerifyCommand } from './image/verify.js';

const IMAGE_HELP = `This subcommand operates on image(s) in the local store.

The "cat-manifest", "export", "extract", "render", "rm" and "verify" subcommands
take the ID or image name to reference images in the local store.

The ID can be specified using the long or short version, i.e. "sha512-78c08a541997",
or "sha512-78c08a5419979fff71e615f27aad75b84362a3cd9a13703b9d47ec27d1cfd029".

The image name can be specified including the version tag as stored in the local store,
i.e. "quay.io/coreos/etcd:latest", or "quay.io/coreos/etcd:v3.0.13".

The version tag may be left out, i.e. "quay.io/coreos/etcd".`;

/**
 * `rkt image ...`: list, rm, gc, export, extract, render, cat-manifest, verify. Returns the `image` command so
 * other verbs can hang aliases on it (rkt's hidden `rkt image fetch`).
 */
export function registerImage(program: Command): Command {
  const image = program
    .command('image')
    .summary('Operate on image(s) in the local store')
    .description(IMAGE_HELP);
  for (const sub of [
    imageCatManifestCommand(),
    imageExportCommand(),
    imageExtractCommand(),
    imageGcCommand(),
    imageListCommand(),
    imageRenderCommand(),
    imageRmCommand(),
    imageVerifyCommand(),
  ]) {
    // Usage errors of nested commands must reach runProgram (exit 254) instead of exiting here.
    image.addCommand(sub.exitOverride());
  }
  return image;
}
