// esdk.mjs: the AWS Encryption SDK for JavaScript (@aws-crypto/client-node)
// as a peer for mlseal's interoperability tests.
//
// Usage: node esdk.mjs MANIFEST.json
//
// MANIFEST.json holds one case object, or {"cases": [case, ...]} to run many
// cases in one process (starting node and loading the SDK costs far more
// than a small case). A case:
//
//   {
//     "id": "any label",
//     "mode": "encrypt" | "decrypt",
//     "in": "path of the input file", "out": "path of the output file",
//     "keys": [key, ...],            // one key, or several: a multi-keyring
//                                    // whose first key generates the data key
//     "suite": 1144,                 // encrypt: suite id (0x0478 = 1144, 0x0578 = 1400)
//     "frameLength": 4096,           // encrypt: plaintext bytes per frame
//     "context": {"k": "v"},         // encrypt: encryption context
//     "commitmentPolicy": "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
//     "maxEncryptedDataKeys": 0      // 0 or absent: no limit
//   }
//
// A key is {"type": "aes", "namespace", "name", "key": base64 of 16, 24 or
// 32 bytes, "utf8Sorting": true} or {"type": "rsa", "namespace", "name",
// "publicPem", "privatePem", "padding": "oaep-sha1" | "oaep-sha256" |
// "oaep-sha384" | "oaep-sha512" | "pkcs1"}. utf8Sorting selects the
// specification's order of the encryption context that the raw AES keyring
// authenticates; the SDK's default (false) sorts keys with localeCompare,
// which differs from it (aws-encryption-sdk-javascript issue 428).
//
// Prints {"results": [result, ...]} on stdout, one result per case in order:
// {"id", "ok": bool, "error": "...", "suite": id, "frameLength": n,
// "context": {...} (as stored in the header), "encryptedDataKeys": n,
// "bytes": output length}. Exits 0 unless the manifest itself is unusable.

import { readFileSync, writeFileSync } from 'node:fs'
import { constants } from 'node:crypto'
import {
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  RawRsaKeyringNode,
  MultiKeyringNode,
} from '@aws-crypto/client-node'

function aesWrappingSuite(n) {
  switch (n) {
    case 16:
      return RawAesWrappingSuiteIdentifier.AES128_GCM_IV12_TAG16_NO_PADDING
    case 24:
      return RawAesWrappingSuiteIdentifier.AES192_GCM_IV12_TAG16_NO_PADDING
    case 32:
      return RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING
  }
  throw new Error(`AES wrapping key of ${n} bytes`)
}

function keyring(k) {
  switch (k.type) {
    case 'aes': {
      // The keyring keeps the key: give it a fresh Uint8Array of its own,
      // not a view into node's shared Buffer pool.
      const raw = Buffer.from(k.key, 'base64')
      const unencryptedMasterKey = new Uint8Array(raw.length)
      unencryptedMasterKey.set(raw)
      raw.fill(0)
      return new RawAesKeyringNode({
        keyNamespace: k.namespace,
        keyName: k.name,
        unencryptedMasterKey,
        wrappingSuite: aesWrappingSuite(unencryptedMasterKey.length),
        utf8Sorting: k.utf8Sorting ?? true,
      })
    }
    case 'rsa': {
      const rsaKey = {}
      if (k.publicPem) rsaKey.publicKey = k.publicPem
      if (k.privatePem) rsaKey.privateKey = k.privatePem
      const input = { keyNamespace: k.namespace, keyName: k.name, rsaKey }
      if (k.padding === 'pkcs1') {
        input.padding = constants.RSA_PKCS1_PADDING
      } else {
        const m = /^oaep-(sha1|sha256|sha384|sha512)$/.exec(k.padding ?? '')
        if (!m) throw new Error(`unknown RSA padding ${JSON.stringify(k.padding)}`)
        input.padding = constants.RSA_PKCS1_OAEP_PADDING
        input.oaepHash = m[1]
      }
      return new RawRsaKeyringNode(input)
    }
  }
  throw new Error(`unknown key type ${JSON.stringify(k.type)}`)
}

function keyrings(keys) {
  if (!Array.isArray(keys) || keys.length === 0) throw new Error('case has no keys')
  const rings = keys.map(keyring)
  if (rings.length === 1) return rings[0]
  return new MultiKeyringNode({ generator: rings[0], children: rings.slice(1) })
}

const clients = new Map()
function client(c) {
  const policy = c.commitmentPolicy ?? 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT'
  const max = c.maxEncryptedDataKeys || 0
  const id = `${policy}/${max}`
  if (!clients.has(id)) {
    if (!(policy in CommitmentPolicy)) throw new Error(`unknown commitment policy ${policy}`)
    const opts = { commitmentPolicy: CommitmentPolicy[policy] }
    if (max > 0) opts.maxEncryptedDataKeys = max
    clients.set(id, buildClient(opts))
  }
  return clients.get(id)
}

function describe(header) {
  return {
    suite: header.suiteId,
    frameLength: header.frameLength,
    context: header.encryptionContext,
    encryptedDataKeys: header.encryptedDataKeys.length,
  }
}

async function run(c) {
  const input = readFileSync(c.in)
  const ring = keyrings(c.keys)
  const { encrypt, decrypt } = client(c)
  if (c.mode === 'encrypt') {
    const opts = { encryptionContext: c.context ?? {} }
    if (c.suite) opts.suiteId = c.suite
    if (c.frameLength) opts.frameLength = c.frameLength
    const { result, messageHeader } = await encrypt(ring, input, opts)
    writeFileSync(c.out, result)
    return { ...describe(messageHeader), bytes: result.length }
  }
  if (c.mode === 'decrypt') {
    const { plaintext, messageHeader } = await decrypt(ring, input)
    writeFileSync(c.out, plaintext)
    return { ...describe(messageHeader), bytes: plaintext.length }
  }
  throw new Error(`unknown mode ${JSON.stringify(c.mode)}`)
}

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node esdk.mjs MANIFEST.json\n')
    process.exit(2)
  }
  const manifest = JSON.parse(readFileSync(process.argv[2], 'utf8'))
  const cases = Array.isArray(manifest.cases) ? manifest.cases : [manifest]
  const results = []
  for (const c of cases) {
    try {
      results.push({ id: c.id, ok: true, ...(await run(c)) })
    } catch (e) {
      results.push({ id: c.id, ok: false, error: String(e && e.stack ? e.stack : e) })
    }
  }
  process.stdout.write(JSON.stringify({ results }) + '\n')
}

main().catch((e) => {
  process.stderr.write(`esdk.mjs: ${e && e.stack ? e.stack : e}\n`)
  process.exit(1)
})
