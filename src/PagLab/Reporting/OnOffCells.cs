using System.Globalization;
using PagLab.Experiments;
using Sample = PagLab.Uncertainty.Bootstrap.Sample;

namespace PagLab.Reporting;

/// <summary>Where an on/off finding is evaluated: one perturbation norm eps on the sweep's main tangents
/// (<see cref="Latent"/> null) or on the tangent-dimension scan's tangents of dimension k.</summary>
public sealed record OnOffCell(int? Latent, double Epsilon)
{
    public Sample? On(Level level) => level.Values(r => r.At(Latent, Epsilon)?.OnPerImage);
    public Sample? Off(Level level) => level.Values(r => r.At(Latent, Epsilon)?.OffPerImage);
    public Sample? Isotropic(Level level) => level.Values(r => r.At(Latent, Epsilon)?.IsotropicPerImage);
    public string Text => (Latent is int k ? $"k={k} " : "") + $"eps {OnOffCells.Number(Epsilon)}";
    /// <summary><see cref="Text"/>, naming the main tangents when a scan's cells are beside them.</summary>
    public string TextAmong(bool scanned) => Latent is null && scanned ? "the main tangents at " + Text : Text;
}

/// <summary>
/// The on/off findings at every (k, eps) measured (issue 24: a conclusion about off/on must not hang on one tangent
/// dimension or one noise norm). A finding counts as held only if it holds at every cell and at least two eps; the
/// evidence names where it did and did not hold.
/// </summary>
public static class OnOffCells
{
    /// <summary>The cells of a dataset, read off its standard model: every eps of the main measurement, then every
    /// scanned k x eps when the sweep scanned tangent dimensions. The main tangents stay a cell beside the scan:
    /// they may be exact (subspace-gaussians) or another estimator's, and a conclusion must hold there too.
    /// </summary>
    public static IReadOnlyList<OnOffCell> Of(Level standard)
    {
        var runs = standard.Completed;
        var main = runs.SelectMany(r => r.Sensitivity).Select(s => s.Epsilon).Distinct().Order()
            .Select(e => new OnOffCell(null, e));
        var scanned = runs.SelectMany(r => r.TangentScan ?? new()).Where(s => s.Latent is not null)
            .Select(s => new OnOffCell(s.Latent, s.Epsilon)).Distinct().OrderBy(c => c.Latent)
            .ThenBy(c => c.Epsilon);
        return main.Concat(scanned).Where(c => c.On(standard) is not null && c.Off(standard) is not null).ToList();
    }

    /// <summary>
    /// One finding from its outcome at each cell: held when held at every cell and at two eps or more (one eps:
    /// inconclusive, "a finding needs two"); not held when it did not hold at any cell; not testable when a control
    /// made it untestable at some cell; otherwise inconclusive. The evidence names the cells of each outcome, then
    /// each cell's numbers.
    /// </summary>
    public static Finding Combine(IReadOnlyList<OnOffCell> cells, Func<OnOffCell, Finding> at)
    {
        var each = cells.Select(c => (Cell: c, Finding: at(c))).ToList();
        bool scanned = cells.Any(c => c.Latent is not null);
        string Where(IEnumerable<OnOffCell> some) => OnOffCells.Where(some, scanned);
        var first = each[0].Finding;
        var outcomes = each.Select(e => e.Finding.Outcome).Distinct().ToList();
        int epsilons = cells.Select(c => c.Epsilon).Distinct().Count();
        Outcome outcome;
        string verdict;
        if (outcomes is [Outcome.Held])
        {
            outcome = epsilons >= 2 ? Outcome.Held : Outcome.Inconclusive;
            verdict = epsilons >= 2 ? $"held at every cell ({Where(cells)})"
                : $"held at {Where(cells)}, but measured at one eps; a finding needs two";
        }
        else
        {
            outcome = outcomes is [Outcome.NotHeld] ? Outcome.NotHeld
                : outcomes.Contains(Outcome.NotTestable) ? Outcome.NotTestable : Outcome.Inconclusive;
            verdict = string.Join("; ", Enum.GetValues<Outcome>().Where(outcomes.Contains).Select(o =>
                $"{Common.Vocabulary.Name(o)} at "
                + Where(each.Where(e => e.Finding.Outcome == o).Select(e => e.Cell))));
        }
        string details = each.Count == 1 ? each[0].Finding.Evidence
            : string.Join(" | ", each.Select(e => $"{e.Cell.TextAmong(scanned)}: {e.Finding.Evidence}"));
        return first with { Outcome = outcome, Evidence = $"{verdict}. {details}" };
    }

    /// <summary>Cells in short: "k=8,16 eps 1,4; k=64 eps 4" (k with the same eps grouped), or "eps 1,4"; with
    /// <paramref name="scanned"/>, the main tangents' cells are named as such.</summary>
    public static string Where(IEnumerable<OnOffCell> cells, bool scanned = false)
    {
        var byLatent = cells.GroupBy(c => c.Latent)
            .Select(g => (Latent: g.Key, Eps: string.Join(",", g.Select(c => c.Epsilon).Order().Select(Number))));
        var main = byLatent.Where(x => x.Latent is null)
            .Select(x => (scanned ? "the main tangents at " : "") + $"eps {x.Eps}");
        var scan = byLatent.Where(x => x.Latent is not null).GroupBy(x => x.Eps)
            .Select(g => $"k={string.Join(",", g.Select(x => x.Latent))} eps {g.Key}");
        return string.Join("; ", main.Concat(scan));
    }

    public static string Number(double value) => value.ToString("G3", CultureInfo.InvariantCulture);
}
