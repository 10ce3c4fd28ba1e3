// Package beam runs mlseal's dataset operations as Apache Beam transforms,
// so that a data team's pipeline encrypts, decrypts, rewraps and tokenizes
// datasets as steps of its own, on Beam's Prism runner in tests and on
// Dataflow, Flink or Spark unchanged.
//
// The file transforms (EncryptFiles, DecryptFiles, RewrapFiles,
// TokenizeFiles, DetokenizeFiles) take a PCollection of names: files,
// directories, s3:// objects or prefixes, such as fileio.MatchFiles finds.
// A worker plans each name with the dataset engine (directories walked,
// prefixes listed, output names checked), the items are spread over the
// workers, and each worker streams its items from source to destination
// with the engine: elements are names and small records, never data, so a
// dataset never sits in the runner's memory. Each item comes out as a
// dataset.Result; a failed item is a Result with status failed and leaves
// no output, unless Files.FailOnError asks for the pipeline to fail.
//
// Keys travel as references (Keys): key file paths, kms: keys, and
// secretsmanager:// or ssm:// references to a key file's JSON. Workers
// load them on their first item and share them, and one data-key cache,
// between all the items and DoFn instances of their process: the pipeline
// that is sent to a runner holds no key material and no secret value, and a
// worker makes one KMS call per cache window rather than one per file.
//
// TokenizeLines and DetokenizeLines transform JSON Lines records that a
// pipeline already holds as strings.
//
// The command mlseal-beam (cmd/mlseal-beam) runs one operation over a
// dataset from the command line.
package beam
