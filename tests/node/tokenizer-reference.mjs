// Reference decodes from Hugging Face's own JavaScript tokenizers (@huggingface/tokenizers), for the C# comparison in
// tests/OnnxLm.Tests/Text/RealTokenizerTests.cs. One run per tokenizer, since loading a large one (Gemma) takes seconds.
//
//   node tokenizer-reference.mjs <folder with tokenizer.json [+ tokenizer_config.json]> <id count> <sequences.json> <out.json>
//
// Writes {"singles": [decode([id]) for id in 0..count-1], "sequences": [decode(ids) for each sequence]}, all with
// skip_special_tokens. clean_up_tokenization_spaces is off: it is a transformers text heuristic (" ." → "."), not part
// of the tokenizer's decoder, and the server does not apply it (see RealTokenizerTests for why).
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

const [folder, countText, sequencesPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node tokenizer-reference.mjs <folder> <id count> <sequences.json> <out.json>');
  process.exit(2);
}
const tokenizerJson = JSON.parse(fs.readFileSync(path.join(folder, 'tokenizer.json'), 'utf8'));
const configPath = path.join(folder, 'tokenizer_config.json');
const tokenizerConfig = fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, 'utf8')) : {};
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
const options = { skip_special_tokens: true, clean_up_tokenization_spaces: false };

const count = Number(countText);
const singles = new Array(count);
for (let id = 0; id < count; id++) singles[id] = tokenizer.decode([id], options);
const sequences = JSON.parse(fs.readFileSync(sequencesPath, 'utf8')).map((ids) => tokenizer.decode(ids, options));
fs.writeFileSync(outPath, JSON.stringify({ singles, sequences }));
