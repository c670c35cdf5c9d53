/**
 * The dataset layer of {@code jswift sft/pt/infer}: local {@code .jsonl}, {@code .json}, {@code .csv} and
 * {@code .txt} files (or folders of them) read lazily, converted row by row to the standard {@code messages}
 * format exactly as ms-swift's {@code AutoPreprocessor} converts them, then sampled, split, mixed and shuffled
 * with a seed as ms-swift's {@code load_dataset} does.
 *
 * <p>The entry point is {@link jswift.data.DatasetLoader#load}; {@link jswift.data.Row} is what comes out.
 * A malformed row fails with {@code file:line: what is wrong}, or is skipped and counted in
 * {@link jswift.data.BadRows} when the caller asked for that ({@code --dataset_skip_bad true}).
 *
 * <p>Two small datasets ship in the jar, written for jswift: {@code jswift/quickstart-sft} (200 short English
 * instruction/answer conversations for the quick start) and {@code swift/self-cognition} (51 identity questions in
 * English and Chinese with {@code {{NAME}}} and {@code {{AUTHOR}}} placeholders, in the form of ms-swift's dataset
 * of that name).
 */
package jswift.data;
