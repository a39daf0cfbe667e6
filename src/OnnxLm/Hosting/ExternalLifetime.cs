namespace OnnxLm.Hosting;

/// <summary>
/// A host lifetime that listens to nothing. The default ConsoleLifetime hooks SIGINT/SIGTERM for every host it starts,
/// which is wrong for servers started inside a test process; the owner of an <see cref="OnnxLmServer"/> decides when it
/// stops (<see cref="ServerHost"/> does so on SIGTERM/SIGINT).
/// </summary>
internal sealed class ExternalLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
