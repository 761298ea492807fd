namespace PagLab.Score;

/// <summary>Default noise levels of the alignment measurement, per dataset, in PagLab's [0,1]-pixel units.</summary>
public static class AlignmentDefaults
{
    /// <summary>
    /// PAGs, Section 5 ("Measuring Perceptual Alignment") and Suppl. B.3: sigma = 0.5 on CIFAR-10 and 1.2 on
    /// ImageNet-64, in EDM's units ([-1,1] pixels), i.e. 0.25 and 0.6 on [0,1] pixels. The paper states none for
    /// the other datasets; there PagLab's own default of 0.5 applies.
    /// </summary>
    public static double Sigma(string dataset) => dataset switch
    {
        "cifar10" => 0.25,
        "imagenet64" => 0.6,
        _ => OtherDatasets,
    };

    public const double OtherDatasets = 0.5;
}
