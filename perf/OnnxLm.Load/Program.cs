using OnnxLm.Load.Cli;
using OnnxLm.Load.Compare;
using OnnxLm.Load.Running;

// onnxlm-load: exit 0 when every request succeeded, 1 when some failed or a server would not start, 2 on a usage error.
if (args.Length == 0 || args is ["--help"] or ["-h"] or [_, "--help"])
{
    Console.WriteLine(OnnxLm.Load.Cli.HelpText.Usage);
    return 0;
}

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"onnxlm-load: {e.Message} (see --help)");
    return 2;
}

// Create the output folders now, so a long run cannot fail at the very end on a missing directory.
foreach (var path in new[] { options.OutJson, options.OutMarkdown })
    if (path is not null && Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C: stop issuing, finish cleanly (compare mode still stops its servers).
    e.Cancel = true;
    cts.Cancel();
};

try
{
    return options.Compare
        ? await CompareCommand.RunAsync(options, args, cts.Token)
        : await RunCommand.RunAsync(options, args, cts.Token);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"onnxlm-load: {e.Message}");
    return 2;
}
catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or FormatException)
{
    Console.Error.WriteLine($"onnxlm-load: {e.Message}");
    return 1;
}
catch (OperationCanceledException) when (cts.IsCancellationRequested)
{
    Console.Error.WriteLine("onnxlm-load: interrupted");
    return 130;
}
