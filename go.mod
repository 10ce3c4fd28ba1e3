module github.com/mlseal/mlseal

go 1.26
