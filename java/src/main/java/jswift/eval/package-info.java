/** Evaluating models: perplexity on a dataset ({@code jswift eval}). */
package jswift.eval;
