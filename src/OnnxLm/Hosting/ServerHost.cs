using System.Runtime.InteropServices;
using OnnxLm.Cli;

namespace OnnxLm.Hosting;

/// <summary><c>onnxlm serve</c>: starts an <see cref="OnnxLmServer"/> and stops it gracefully on the first SIGTERM/SIGINT;
/// a second signal during the drain is left to the default handler (the process exits at once).</summary>
internal static class ServerHost
{
    public static async Task<int> RunAsync(ServeOptions options)
    {
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Registered before the (possibly slow) model load, so a signal during startup is a clean stop, not a kill.
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        OnnxLmServer server;
        try
        {
            server = await OnnxLmServer.StartAsync(options);
        }
        catch (ServerStartException e)
        {
            Console.Error.WriteLine($"onnxlm: {e.Message}");
            return 2;
        }
        await using (server)
        {
            await stop.Task;
            await server.StopAsync();
        }
        return 0;

        void OnSignal(PosixSignalContext context) => context.Cancel = stop.TrySetResult();
    }
}
