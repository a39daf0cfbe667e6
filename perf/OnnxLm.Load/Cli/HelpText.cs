namespace OnnxLm.Load.Cli;

/// <summary>The --help text.</summary>
public static class HelpText
{
    public const string Usage = """
        onnxlm-load: streaming load generator for OpenAI-compatible servers.

        onnxlm-load [run] [--url http://127.0.0.1:8000] [workload] [arrival] [limits] [output]
        onnxlm-load compare --model DIR | --a-cmd CMD --b-cmd CMD  [workload] [arrival] [limits] [output]

        target      --url URL            base URL (default http://127.0.0.1:8000); loopback only unless --allow-remote
                    --model-name NAME    "model" field to send
        workload    --workload random|shared-prefix|multi-turn|replay   (default random)
                    --api chat|completions                              (default chat)
                    --input-tokens N|A:B --output-tokens N|A:B          (default 128, 64; A:B = uniform)
                    --prompt-tokens-exact [--token-id-range A:B]        token-id prompts to /v1/completions
                    --groups G --system-tokens S --question-tokens N|A:B   shared-prefix (default 4, 512, 32)
                    --turns T --turn-tokens N|A:B                       multi-turn (first message: --input-tokens)
                    --replay FILE.jsonl                                 one OpenAI request body per line
                    --temperature T (default 0)  --ignore-eos  --seed N  --session-keys (multi-turn: a prompt_cache_key per conversation)
                    --response-format FILE.json   send that object as response_format (structured output)
        arrival     --concurrency 1,4,8   closed loop, one run per value (default 1)
                    --rate 0.5,2          Poisson arrivals per second, one run per value
        limits      --requests N (default 32; replay: the file once)  --duration SECONDS  --warmup N (default 1)
                    --timeout SECONDS per request (default 600)
        report      --slo-ttft-ms X --slo-tpot-ms Y   goodput = requests/s meeting both
                    --out FILE.json  --md FILE.md  --per-request  --label NAME
        compare     --model DIR           serve DIR with onnxlm (src/OnnxLm build) and the GenAI baseline
                    --a-cmd CMD --b-cmd CMD   custom server commands; {port} and {model} are substituted
                    --a-name/--b-name NAME  --a-port/--b-port N  --a-args/--b-args "EXTRA ARGS"
                    --a-response-format/--b-response-format FILE.json   response_format for one side's requests only
                    --b-onnxlm            B is onnxlm too (--b-args, else --a-args), e.g. constrained vs unconstrained
                    --threads N (passed to both default servers)  --repeats R  --log-dir DIR  --startup-timeout S
        """;
}
