#problemName tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
1.0,2.0,3.5:0.5,?,1.5:a
-1,2e3:4,5:b
