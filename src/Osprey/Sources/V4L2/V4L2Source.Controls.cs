namespace Osprey.Sources.V4L2;

/// <summary>A camera's controls (brightness, exposure, ...), read and set while a run has the device open.</summary>
public sealed partial class V4L2Source
{
    /// <summary>The device's controls with their current values; throws <see cref="InvalidOperationException"/> when it is not open.</summary>
    public IReadOnlyList<V4L2Control> GetControls()
    {
        lock (_deviceLock)
        {
            return V4L2Queries.ListControls(_device ?? throw NotOpen());
        }
    }

    /// <summary>
    /// Sets control <paramref name="name"/> (as <see cref="GetControls"/> names it) and returns it with the value
    /// the driver kept. Throws <see cref="KeyNotFoundException"/> for an unknown name,
    /// <see cref="ArgumentOutOfRangeException"/> outside its range, <see cref="InvalidOperationException"/> when
    /// read-only or the device is not open, and <see cref="V4L2Exception"/> when the driver refuses.
    /// </summary>
    public V4L2Control SetControl(string name, long value)
    {
        lock (_deviceLock)
        {
            var device = _device ?? throw NotOpen();
            var controls = V4L2Queries.ListControls(device);
            var control = controls.Find(c => c.Name == name)
                ?? throw new KeyNotFoundException($"{Options.Device} has no control '{name}'; it has: {string.Join(", ", controls.Select(c => c.Name))}.");
            if (control.ReadOnly)
            {
                throw new InvalidOperationException($"Control '{name}' of {Options.Device} is read-only now.");
            }

            if (value < control.Minimum || value > control.Maximum)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"Control '{name}' takes {control.Minimum} to {control.Maximum}.");
            }

            var kept = V4L2Queries.SetControl(device, control, value);
            Log.ControlSet(_logger, Options.Device, name, value, kept);
            return control with { Value = kept };
        }
    }

    private InvalidOperationException NotOpen() =>
        new($"{Options.Device} is not open (the feed is waiting for the device or restarting); try again when it runs.");
}
