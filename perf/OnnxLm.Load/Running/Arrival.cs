using System.Globalization;

namespace OnnxLm.Load.Running;

/// <summary>How requests arrive: a closed loop of <see cref="Concurrency"/> clients (each sends its next request when
/// the previous one ends), or an open Poisson process at <see cref="Rate"/> sessions per second.</summary>
public readonly record struct Arrival(int Concurrency, double Rate)
{
    public bool IsPoisson => Rate > 0;

    public static Arrival Closed(int concurrency) => new(concurrency, 0);

    public static Arrival Poisson(double rate) => new(0, rate);

    public override string ToString() => IsPoisson
        ? string.Create(CultureInfo.InvariantCulture, $"poisson {Rate:0.###}/s")
        : string.Create(CultureInfo.InvariantCulture, $"c={Concurrency}");
}
