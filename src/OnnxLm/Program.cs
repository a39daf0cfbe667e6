using OnnxLm.Cli;
using OnnxLm.Hosting;

namespace OnnxLm;

public static class Program
{
    public static string Version => typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    const string Usage = """
        onnxlm — an OpenAI-compatible LLM server on ONNX Runtime

        usage:
          onnxlm [serve] [options]       serve a model (see below)
          onnxlm pull ORG/NAME[:FOLDER][@REV]   download a model from the Hugging Face Hub (see onnxlm pull --help)
          onnxlm models | rm ORG/NAME    list | remove cached models
          onnxlm make-model DIR [opts]   write a random-weight test model (see onnxlm make-model --help)
          onnxlm config show [opts]      print the effective serve options and where each came from
          onnxlm service install|uninstall|status [opts]   run as a launchd/systemd service (see onnxlm service --help)
          onnxlm --version | --help      versions (onnxlm, ONNX Runtime, GenAI) | this text

        """;

    public static async Task<int> Main(string[] args)
    {
        try
        {
            if (args.Length > 0 && (args[0] is "--help" or "-h" or "help"))
            {
                Console.WriteLine(Usage + ServeOptionTable.RenderHelp() + "\n" + ConfigCommand.Help + "\n" + PullCommand.Help + "\n" + MakeModelCommand.Help + "\n" + ServiceCommand.Help);
                return 0;
            }
            if (args.Length > 0 && args[0] == "service") return ServiceCommand.Run(args, Console.Out, Console.Error);
            if (args.Length > 0 && args[0] == "config") return ConfigCommand.Run(args, Console.Out);
            if (args.Length > 0 && args[0] == "models") return PullCommand.RunModels(args, Console.Out);
            if (args.Length > 0 && args[0] == "rm") return PullCommand.RunRm(args, Console.Out);
            if (args.Length > 0 && args[0] == "pull")
            {
                // Ctrl-C stops the pull; the partial file stays for the next run to resume.
                using var cancel = new CancellationTokenSource();
                Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
                return await PullCommand.RunPullAsync(args, Console.Out, Console.Error, ct: cancel.Token);
            }
            // Before anything can touch ONNX Runtime: a published binary extracts/verifies and loads its embedded libraries.
            if (NativeBootstrap.Initialize() is { } note) Console.WriteLine($"onnxlm: {note}");
            if (args.Length > 0 && (args[0] is "--version" or "-V"))
            {
                Console.WriteLine(VersionInfo.Render());
                return 0;
            }
            if (args.Length > 0 && args[0] == "make-model") return MakeModelCommand.Run(args);
            int start = args.Length > 0 && args[0] == "serve" ? 1 : 0;
            if (args.Length > start && args[start] is "--help" or "-h")
            {
                Console.WriteLine(ServeOptionTable.RenderHelp());
                return 0;
            }
            if (args.Length > start && !args[start].StartsWith('-'))
                throw new UsageException($"unknown command '{args[start]}' (see onnxlm --help)");
            return await ServerHost.RunAsync(ServeConfig.Load(args, start).Options);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"onnxlm: {e.Message}");
            return 2;
        }
        catch (Hub.HubException e)
        {
            Console.Error.WriteLine($"onnxlm: {e.Message}");
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("onnxlm: interrupted (a partial download resumes on the next run)");
            return 130;
        }
        catch (NativeBootstrapException e)
        {
            Console.Error.WriteLine($"onnxlm: {e.Message}");
            return 1;
        }
    }
}
