// Package tokenize holds the benchmarks of mlseal's tokenization of records
// beside their floors, in one run: a CSV file of about 200-byte rows in
// which three fields with distinct values are tokenized (a deterministic
// email, an fpe SSN, a hashed phone number), the same content as JSON
// Lines, and as Parquet, and for each what no tokenizer can beat on this
// machine: the CSV parsed and written again by encoding/csv, each JSON line
// checked by encoding/json, and the file copied through a buffer (cat).
//
// Benchmark names read as format/size/implementation/settings, for example
// BenchmarkTokenize/CSV/32MiB/mlseal/workers=2. Every benchmark reports MB/s
// (wall clock) and MB/cpu-s: megabytes per second of the process's CPU
// time (user and system, garbage collection included), which is the
// figure to compare on a shared machine, where wall-clock rates follow the
// load.
package tokenize
