// Encodes texts with Hugging Face's own JavaScript tokenizer (@huggingface/tokenizers), the reference the C# tests
// compare GenAI's encoder (onnxlm's prompt side) against. argv[2]: a folder with tokenizer.json and
// tokenizer_config.json; argv[3]: a JSON file ["text", ...]. Prints a JSON array of id arrays, without the special
// tokens a post-processor adds (BOS is onnxlm's own decision, tested apart).
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2];
const tokenizer = new Tokenizer(
  JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")));
const texts = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
process.stdout.write(JSON.stringify(texts.map(t => tokenizer.encode(t, { add_special_tokens: false }).ids)));
