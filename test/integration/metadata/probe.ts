/**
 * A busybox sh script that asks the metadata service what an app would ask, for the integration
 * tests (inside a pod, or in a test network namespace), and the parser of what it prints. Each
 * request prints one line `@@<name>|<status>|<content type>|<base64 body>`.
 *
 * Environment: BASE (the AC_METADATA_URL to use), APP (the app name); optionally PEER_UUID and
 * PEER_SIG (another pod's UUID and its signature of CONTENT) and PEER_URL (another pod's URL).
 */

/** The busybox applets the script uses. */
export const PROBE_APPLETS = [
  'sh',
  'wget',
  'sed',
  'tr',
  'head',
  'base64',
  'rm',
  'cat',
  'echo',
  'sleep',
  'test',
  '[',
];

export const PROBE_CONTENT = 'hello from a pod';

export const PROBE_SCRIPT = String.raw`
enc() { printf %s "$1" | sed 's/%/%25/g; s/+/%2B/g; s/\//%2F/g; s/=/%3D/g; s/&/%26/g; s/ /+/g'; }
req() {
  n=$1; url=$2; shift 2
  rm -f /tmp/b /tmp/h
  if [ $# -gt 0 ]; then wget -Y off -q -S -O /tmp/b --post-data "$1" "$url" 2>/tmp/h
  else wget -Y off -q -S -O /tmp/b "$url" 2>/tmp/h; fi
  st=$(sed -n 's/^ *HTTP\/1\.[01] \([0-9]*\).*/\1/p' /tmp/h | head -n 1)
  ct=$(sed -n 's/^ *[Cc]ontent-[Tt]ype: *//p' /tmp/h | tr -d '\r' | head -n 1)
  b=; [ -f /tmp/b ] && b=$(base64 -w 0 /tmp/b)
  echo "@@$n|$st|$ct|$b"
}
M=$BASE/acMetadata/v1
req uuid "$M/pod/uuid"
req manifest "$M/pod/manifest"
req podann "$M/pod/annotations"
req appann "$M/apps/$APP/annotations"
req imgman "$M/apps/$APP/image/manifest"
req imgid "$M/apps/$APP/image/id"
req noapp "$M/apps/no-such-app/image/id"
req sign "$M/pod/hmac/sign" "content=$(enc "${PROBE_CONTENT}")"
sig=$(cat /tmp/b)
uuid=$(wget -Y off -q -O - "$M/pod/uuid")
req verify-own "$M/pod/hmac/verify" "content=$(enc "${PROBE_CONTENT}")&uuid=$uuid&signature=$(enc "$sig")"
req verify-tampered "$M/pod/hmac/verify" "content=$(enc "${PROBE_CONTENT}!")&uuid=$uuid&signature=$(enc "$sig")"
req verify-garbage "$M/pod/hmac/verify" "content=x&uuid=$uuid&signature=not-base64"
if [ -n "$PEER_UUID" ]; then
  req verify-peer "$M/pod/hmac/verify" "content=$(enc "${PROBE_CONTENT}")&uuid=$PEER_UUID&signature=$(enc "$PEER_SIG")"
  req verify-peer-as-me "$M/pod/hmac/verify" "content=$(enc "${PROBE_CONTENT}")&uuid=$uuid&signature=$(enc "$PEER_SIG")"
fi
if [ -n "$PEER_URL" ]; then
  req stolen-manifest "$PEER_URL/acMetadata/v1/pod/manifest"
  req stolen-sign "$PEER_URL/acMetadata/v1/pod/hmac/sign" "content=x"
fi
`;

export interface ProbeAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** The answers printed by PROBE_SCRIPT, by request name. */
export function parseProbe(output: string): Map<string, ProbeAnswer> {
  const out = new Map<string, ProbeAnswer>();
  for (const line of output.split('\n')) {
    const m = /^@@([^|]+)\|(\d*)\|([^|]*)\|(.*)$/.exec(line);
    if (m === null) continue;
    out.set(m[1] as string, {
      status: Number(m[2]),
      contentType: m[3] as string,
      body: Buffer.from(m[4] as string, 'base64').toString('utf8'),
    });
  }
  return out;
}
