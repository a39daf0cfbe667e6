namespace OnnxLm.Cli;

/// <summary><c>onnxlm config show [serve options]</c>: the effective serve configuration and where each value came from,
/// computed exactly as <c>serve</c> computes it (same table, same precedence), with API keys masked.</summary>
internal static class ConfigCommand
{
    public const string Help = """
        onnxlm config show [--config FILE] [serve options]
                                        print the effective serve options (API keys as ***) and where each came from:
                                        default, file, env (the variable) or cli
        """;

    public static int Run(string[] args, TextWriter output) =>
        Run(args, output, ServeConfig.ReadEnvironment(), ConfigFile.DefaultPath());

    internal static int Run(string[] args, TextWriter output, IReadOnlyDictionary<string, string> environment, string? defaultConfigPath)
    {
        if (args.Length < 2 || args[1] is "--help" or "-h")
        {
            output.WriteLine(Help);
            return args.Length < 2 ? 2 : 0;
        }
        if (args[1] != "show") throw new UsageException($"unknown config action '{args[1]}' (expected show)");
        output.Write(ServeConfig.Load(args, 2, environment, defaultConfigPath).Render());
        return 0;
    }
}
